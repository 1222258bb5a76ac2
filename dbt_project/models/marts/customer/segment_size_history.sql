{{
    config(
        materialized='incremental',
        unique_key=['as_of_date', 'segment_name'],
        incremental_strategy='delete+insert',
        on_schema_change='append_new_columns',
    )
}}

{#- Every segment gets its row each day, empty ones included, so the history has no gaps. A
    rebuild of the same day replaces that day's rows. Exits follow from the sizes: today's
    members are the last earlier day's, plus who entered today, less who left. -#}

with

segments as (

    select segment_name from {{ ref('int_segments_loaded') }}

),

members as (

    select * from {{ ref('customer_segments') }}

),

as_of as (

    select cast(as_of_at as date) as as_of_date from {{ ref('pipeline_as_of') }}

),

counted as (

    select
        members.segment_name,
        count(*) as members,
        sum(
            case when cast(members.entered_at as date) = as_of.as_of_date then 1 else 0 end
        ) as entered
    from members
    cross join as_of
    group by members.segment_name

),

earlier as (

    {#- Each segment's size on the latest day before this one. #}
    {% if is_incremental() %}
        select
            history.segment_name,
            history.members
        from {{ this }} as history
        cross join as_of
        where history.as_of_date < as_of.as_of_date
        qualify
            history.as_of_date
            = max(history.as_of_date) over (partition by history.segment_name)
    {% else %}
        select
            cast(null as varchar) as segment_name,
            cast(null as bigint) as members
        where 1 = 0
    {% endif %}

),

final as (

    select
        as_of.as_of_date,
        segments.segment_name,
        cast(coalesce(counted.members, 0) as bigint) as members,
        cast(coalesce(counted.entered, 0) as bigint) as entered,
        cast(
            coalesce(earlier.members, 0)
            + coalesce(counted.entered, 0)
            - coalesce(counted.members, 0) as bigint
        ) as exited
    from segments
    cross join as_of
    left join counted on segments.segment_name = counted.segment_name
    left join earlier on segments.segment_name = earlier.segment_name

)

select * from final
