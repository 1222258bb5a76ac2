{#- Each arm of each campaign, by lifecycle stage and RFM segment at assignment (see
    campaign_assignments). An arm's window closes 7 days after its last assignment; until the
    as-of date passes that, its conversions are counts so far, not a result. -#}

with

assignments as (

    select * from {{ ref('campaign_assignments') }}

),

as_of as (

    select as_of_at from {{ ref('pipeline_as_of') }}

),

counted as (

    select
        campaign_id,
        variant,
        lifecycle_stage_at_assignment,
        rfm_segment_at_assignment,
        count(*) as recipients,
        min(assigned_at) as first_assigned_at,
        max(assigned_at) as last_assigned_at,
        count(*) filter (where was_delivered) as delivered,
        count(*) filter (where has_opened) as opened,
        count(*) filter (where has_clicked) as clicked,
        count(*) filter (where has_unsubscribed) as unsubscribed,
        count(*) filter (where has_complained) as complained,
        count(*) filter (where has_visited_7d) as visited_7d,
        count(*) filter (where has_converted_7d) as converted_7d,
        sum(revenue_7d_eur) as revenue_7d_eur,
        -- With the sum, the variance of revenue per recipient: Welch intervals from aggregates.
        sum(power(cast(revenue_7d_eur as double), 2)) as revenue_7d_sq_eur,
        sum(attributed_orders) as attributed_orders,
        sum(attributed_revenue_eur) as attributed_revenue_eur
    from assignments
    group by campaign_id, variant, lifecycle_stage_at_assignment, rfm_segment_at_assignment

),

final as (

    select
        md5(
            concat_ws('|', campaign_id, variant, lifecycle_stage_at_assignment, rfm_segment_at_assignment)
        ) as campaign_metric_id,
        campaign_id,
        variant,
        variant = 'holdout' as is_holdout,
        lifecycle_stage_at_assignment,
        rfm_segment_at_assignment,
        recipients,
        first_assigned_at,
        last_assigned_at,
        last_assigned_at + interval 7 day as window_closes_at,
        last_assigned_at + interval 7 day <= (select as_of.as_of_at from as_of) as is_window_closed,
        delivered,
        opened,
        clicked,
        unsubscribed,
        complained,
        visited_7d,
        converted_7d,
        cast(revenue_7d_eur as decimal(18, 2)) as revenue_7d_eur,
        cast(revenue_7d_sq_eur as double) as revenue_7d_sq_eur,
        cast(attributed_orders as bigint) as attributed_orders,
        cast(attributed_revenue_eur as decimal(18, 2)) as attributed_revenue_eur,
        case when variant <> 'holdout' then delivered / recipients end as delivered_rate,
        case when delivered > 0 then opened / delivered end as open_rate,
        case when delivered > 0 then clicked / delivered end as click_rate,
        case when delivered > 0 then unsubscribed / delivered end as unsubscribe_rate,
        converted_7d / recipients as conversion_rate_7d,
        cast(revenue_7d_eur / recipients as double) as revenue_per_recipient_eur
    from counted

)

select * from final
