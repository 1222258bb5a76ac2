{{ config(meta={'dagster': {'ref': {'name': 'int_identities_resolved'}}}) }}

-- Every identifier's records must share one person: if not, the label propagation in
-- int_identities_resolved stopped before it converged (raise identity_resolution_rounds).
with

edges as (

    select * from {{ ref('int_identifiers_extracted') }}

),

resolved as (

    select * from {{ ref('int_identities_resolved') }}

),

final as (

    select
        edges.identifier_key,
        count(distinct resolved.person_id) as people
    from edges
    inner join resolved on edges.record_key = resolved.record_key
    group by edges.identifier_key
    having count(distinct resolved.person_id) > 1

)

select * from final
