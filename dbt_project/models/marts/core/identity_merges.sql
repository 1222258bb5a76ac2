{#- Appends each person id that stopped existing because its records joined an earlier
    person, so the send ledger, journeys and erasure requests can follow it. -#}
{{ config(materialized='incremental', unique_key='merged_person_id', on_schema_change='append_new_columns') }}

with

resolved as (

    select * from {{ ref('int_identities_resolved') }}

),

current_ids as (

    select distinct person_id from resolved

),

moved_records as (

    select
        resolved.previous_person_id as merged_person_id,
        resolved.person_id as surviving_person_id,
        count(*) as records_moved
    from resolved
    left join current_ids on resolved.previous_person_id = current_ids.person_id
    where
        resolved.previous_person_id is not null
        and resolved.previous_person_id != resolved.person_id
        and current_ids.person_id is null
    group by resolved.previous_person_id, resolved.person_id

),

final as (

    select
        merged_person_id,
        surviving_person_id,
        records_moved,
        cast('{{ run_started_at.strftime("%Y-%m-%d %H:%M:%S") }}' as timestamp) as merged_at
    from moved_records
    qualify row_number() over (
            partition by merged_person_id order by records_moved desc, surviving_person_id asc
        ) = 1

)

select * from final
