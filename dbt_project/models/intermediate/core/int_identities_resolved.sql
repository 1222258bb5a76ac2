{{ config(materialized='table') }}

with

edges as (

    select * from {{ ref('int_identifiers_extracted') }}

),

{{ connected_components('edges', 'record_key', 'identifier_key', var('identity_resolution_rounds', 6)) }},

records as (

    select distinct
        record_key,
        source_table,
        record_id
    from edges

),

final as (

    select
        records.record_key,
        records.source_table,
        records.record_id,
        components.label as anchor_record_key,
        {{ person_id('components.label') }} as person_id
    from records
    inner join components on records.record_key = components.node

)

select * from final
