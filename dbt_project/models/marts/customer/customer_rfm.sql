{#- Scores are quintiles by percent rank, so equal values share a score: everyone with one
    order has f_score 1. Recency counts days from the last order to the as-of date. -#}

with

as_of as (

    select * from {{ ref('pipeline_as_of') }}

),

orders as (

    select * from {{ ref('fct_orders') }}

),

rfm_segments as (

    select * from {{ ref('rfm_segments') }}

),

buyers as (

    select
        orders.person_id,
        {{ dbt.datediff('max(orders.ordered_at)', 'max(as_of.as_of_at)', 'day') }}
            as recency_days,
        count(*) as frequency,
        cast(sum(orders.total_amount_eur) as decimal(18, 2)) as monetary_eur
    from orders
    cross join as_of
    where orders.ordered_at <= as_of.as_of_at
    group by orders.person_id

),

scored as (

    select
        person_id,
        recency_days,
        frequency,
        monetary_eur,
        least(5, 1 + cast(floor(5 * percent_rank() over (order by recency_days desc)) as integer)) as r_score,
        least(5, 1 + cast(floor(5 * percent_rank() over (order by frequency)) as integer)) as f_score,
        least(5, 1 + cast(floor(5 * percent_rank() over (order by monetary_eur)) as integer)) as m_score
    from buyers

),

final as (

    select
        scored.person_id,
        scored.recency_days,
        scored.frequency,
        scored.monetary_eur,
        scored.r_score,
        scored.f_score,
        scored.m_score,
        cast(scored.r_score as varchar) || cast(scored.f_score as varchar) || cast(scored.m_score as varchar)
            as rfm_cell,
        rfm_segments.rfm_segment
    from scored
    inner join rfm_segments on scored.r_score = rfm_segments.r_score and scored.f_score = rfm_segments.f_score

)

select * from final
