{#- Members keep the date they entered while they stay: the previous build of this table is
    read before it is replaced. -#}
{%- set previous_exists = relation_exists(this) -%}

with

memberships as (

    select * from {{ ref('int_segment_memberships_evaluated') }}

),

as_of as (

    select as_of_at from {{ ref('pipeline_as_of') }}

),

previous as (

    {% if previous_exists %}
        select
            person_id,
            segment_name,
            entered_at
        from {{ this }}
    {% else %}
        select
            cast(null as varchar) as person_id,
            cast(null as varchar) as segment_name,
            cast(null as timestamp) as entered_at
        where 1 = 0
    {% endif %}

),

final as (

    select
        memberships.person_id,
        memberships.segment_name,
        coalesce(previous.entered_at, as_of.as_of_at) as entered_at
    from memberships
    cross join as_of
    left join previous
        on
            memberships.person_id = previous.person_id
            and memberships.segment_name = previous.segment_name

)

select * from final
