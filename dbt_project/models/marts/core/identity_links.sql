with

identifiers as (

    select * from {{ ref('int_identifiers_extracted') }}

),

resolved as (

    select * from {{ ref('int_identities_resolved') }}

),

shared_identifiers as (

    select identifier_key
    from identifiers
    where link_rule != 'record'
    group by identifier_key
    having count(distinct record_key) > 1

),

rules as (

    select
        identifiers.record_key,
        {{ dbt.listagg('distinct identifiers.link_rule', "', '", 'order by identifiers.link_rule') }} as linked_by
    from identifiers
    inner join shared_identifiers on identifiers.identifier_key = shared_identifiers.identifier_key
    group by identifiers.record_key

),

component_sizes as (

    select
        person_id,
        count(*) as records_in_profile
    from resolved
    group by person_id

),

final as (

    select
        resolved.record_key,
        resolved.source_table,
        resolved.record_id,
        resolved.person_id,
        coalesce(rules.linked_by, 'unlinked') as linked_by,
        rules.linked_by is not null as is_linked,
        component_sizes.records_in_profile
    from resolved
    left join rules on resolved.record_key = rules.record_key
    inner join component_sizes on resolved.person_id = component_sizes.person_id

)

select * from final
