{#- Records grouped into people, with ids that stay put. The previous build of this table is
    read before it is replaced: a person keeps their id while any of their records stay
    together, so new records never renumber people they do not touch. When records of two
    earlier people end up in one component, the person first seen survives and the other
    id is recorded as merged into it (identity_merges). A component that claims no earlier
    id gets a new one derived from its anchor record. -#}
{{ config(materialized='table') }}
{%- set previous_exists = relation_exists(this) -%}
{#- A table built before ids were kept has no first-seen time: its ids count as equally old. -#}
{%- set previous_columns = [] -%}
{%- if previous_exists -%}
    {%- set previous_columns = adapter.get_columns_in_relation(this) | map(attribute='name') | list -%}
{%- endif -%}

with

edges as (

    select * from {{ ref('int_identifiers_extracted') }}

),

{#- Only identifiers two records share can join anything; the rest (every record's own
    identifier, most browser ids) would only make each round of propagation slower. #}

shared_identifiers as (

    select
        identifier_key,
        row_number() over () as identifier_number
    from edges
    group by identifier_key
    having count(distinct record_key) > 1

),

{#- Label propagation joins and groups the edges a dozen times: on numbers instead of text
    keys it needs about half the memory, and once DuckDB has to spill to stay within its
    memory limit, less than half the time. Numbered in key order, the smallest number is
    the smallest key, so each component's anchor is the same as on the keys. #}

linked_records as (

    select distinct edges.record_key
    from edges
    inner join shared_identifiers on edges.identifier_key = shared_identifiers.identifier_key

),

shared_records as (

    select
        record_key,
        row_number() over (order by record_key) as record_number
    from linked_records

),

shared_edges as (

    select
        shared_records.record_number,
        shared_identifiers.identifier_number
    from edges
    inner join shared_identifiers on edges.identifier_key = shared_identifiers.identifier_key
    inner join shared_records on edges.record_key = shared_records.record_key

),

{{ connected_components(
    'shared_edges', 'record_number', 'identifier_number', var('identity_resolution_rounds', 6)
) }},

previous as (

    {% if previous_exists %}
        select
            record_key,
            person_id,
            {% if 'person_first_seen_at' in previous_columns %}
                person_first_seen_at
            {% else %}
                cast('1970-01-01' as timestamp) as person_first_seen_at
            {% endif %}
        from {{ this }}
    {% else %}
        select
            cast(null as varchar) as record_key,
            cast(null as varchar) as person_id,
            cast(null as timestamp) as person_first_seen_at
        where 1 = 0
    {% endif %}

),

{#- Grouping on the key alone is cheaper than a distinct over the key and its parts. #}

edge_records as (

    select
        record_key,
        min(source_table) as source_table,
        min(record_id) as record_id
    from edges
    group by record_key

),

records as (

    select
        edge_records.record_key,
        edge_records.source_table,
        edge_records.record_id,
        coalesce(anchors.record_key, edge_records.record_key) as anchor_record_key
    from edge_records
    left join shared_records as members on edge_records.record_key = members.record_key
    left join components on members.record_number = components.node
    left join shared_records as anchors on components.label = anchors.record_number

),

claims as (

    select
        records.anchor_record_key,
        previous.person_id,
        min(previous.person_first_seen_at) as person_first_seen_at,
        count(*) as claimed_records
    from records
    inner join previous on records.record_key = previous.record_key
    group by records.anchor_record_key, previous.person_id

),

{#- An earlier id split over several components stays with the one holding most of it. #}

owned_claims as (

    select * from claims
    qualify row_number() over (
            partition by person_id order by claimed_records desc, anchor_record_key asc
        ) = 1

),

survivors as (

    select * from owned_claims
    qualify row_number() over (
            partition by anchor_record_key order by person_first_seen_at, person_id
        ) = 1

),

previous_ids as (

    select distinct person_id from previous

),

new_ids as (

    select distinct
        records.anchor_record_key,
        {{ person_id('records.anchor_record_key') }} as derived_person_id
    from records
    left join survivors on records.anchor_record_key = survivors.anchor_record_key
    where survivors.anchor_record_key is null

),

fresh_ids as (

    {#- A split-off part whose anchor once named another person gets a new name. #}
    select
        new_ids.anchor_record_key,
        case
            when previous_ids.person_id is null then new_ids.derived_person_id
            else {{ person_id("new_ids.anchor_record_key || '@" ~ run_started_at.strftime('%Y%m%dT%H%M%S') ~ "'") }}
        end as person_id
    from new_ids
    left join previous_ids on new_ids.derived_person_id = previous_ids.person_id

),

final as (

    select
        records.record_key,
        records.source_table,
        records.record_id,
        records.anchor_record_key,
        coalesce(survivors.person_id, fresh_ids.person_id) as person_id,
        coalesce(
            survivors.person_first_seen_at,
            cast('{{ run_started_at.strftime("%Y-%m-%d %H:%M:%S") }}' as timestamp)
        ) as person_first_seen_at,
        previous.person_id as previous_person_id
    from records
    left join survivors on records.anchor_record_key = survivors.anchor_record_key
    left join fresh_ids on records.anchor_record_key = fresh_ids.anchor_record_key
    left join previous on records.record_key = previous.record_key

)

select * from final
