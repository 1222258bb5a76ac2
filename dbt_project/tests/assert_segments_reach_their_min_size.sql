{{
    config(
        severity='warn',
        meta={'dagster': {'ref': {'name': 'customer_segments'}}},
    )
}}

{#- A segment below its min_size is worth a look, not a reason to stop the build: one row
    per such segment, with its size and minimum. -#}

with

segments as (

    select * from {{ ref('int_segments_loaded') }}

),

members as (

    select * from {{ ref('customer_segments') }}

),

sizes as (

    select
        segment_name,
        count(*) as members
    from members
    group by segment_name

),

final as (

    select
        segments.segment_name,
        segments.owner,
        segments.min_size,
        coalesce(sizes.members, 0) as members
    from segments
    left join sizes on segments.segment_name = sizes.segment_name
    where coalesce(sizes.members, 0) < segments.min_size

)

select * from final
