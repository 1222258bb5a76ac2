with

identifiers as (

    select * from {{ ref('int_identifiers_extracted') }}

),

resolved as (

    select * from {{ ref('int_identities_resolved') }}

),

probabilistic_matches as (

    select * from {{ ref('int_crm_customers_matched') }}

),

match_ends as (

    select
        'crm_customers:' || customer_id_a as record_key,
        customer_id_b as matched_record_id,
        match_probability,
        match_weight,
        comparison_levels
    from probabilistic_matches
    union all
    select
        'crm_customers:' || customer_id_b as record_key,
        customer_id_a as matched_record_id,
        match_probability,
        match_weight,
        comparison_levels
    from probabilistic_matches

),

strongest_matches as (

    select * from match_ends
    qualify row_number() over (
            partition by record_key order by match_weight desc, matched_record_id asc
        ) = 1

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
        resolved.person_first_seen_at,
        coalesce(rules.linked_by, 'unlinked') as linked_by,
        rules.linked_by is not null as is_linked,
        strongest_matches.matched_record_id,
        strongest_matches.match_probability,
        strongest_matches.match_weight,
        strongest_matches.comparison_levels,
        component_sizes.records_in_profile
    from resolved
    left join rules on resolved.record_key = rules.record_key
    left join strongest_matches on resolved.record_key = strongest_matches.record_key
    inner join component_sizes on resolved.person_id = component_sizes.person_id

)

select * from final
