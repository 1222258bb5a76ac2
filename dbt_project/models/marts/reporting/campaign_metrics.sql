{#- Who was in each arm of a campaign: the email service's export (a sent event for a
    mailed variant, a holdout event for a control group it kept) and our own send plans
    (every variant and the holdout the email service never sees). Conversion is any order
    within 7 days of assignment, counted alike for mailed people and the holdout, so the
    arms compare fairly; attributed orders and revenue are last-click (int_orders_attributed).
    The breakdown is by the person's lifecycle stage and RFM segment when assigned: frozen in
    our send plans, and for the email service's campaigns the stage from their orders before
    then; a stage at the as-of date would count the campaign's own converters as `active`. An arm's window closes 7
    days after its last assignment; until the as-of date passes that, its conversions are
    counts so far, not a result. -#}

with

email_events as (

    select * from {{ ref('fct_email_events') }}

),

orders as (

    select * from {{ ref('fct_orders') }}

),

web_events as (

    select * from {{ ref('fct_web_events') }}

),

attributed_orders as (

    select * from {{ ref('int_orders_attributed') }}

),

send_plans as (

    select * from {{ ref('stg_email__send_plans') }}

),

as_of as (

    select as_of_at from {{ ref('pipeline_as_of') }}

),

assigned as (

    select
        campaign_id,
        person_id,
        variant,
        occurred_at as assigned_at,
        cast(null as varchar) as frozen_lifecycle_stage,
        cast(null as varchar) as frozen_rfm_segment
    from email_events
    where event_type in ('sent', 'holdout')

    union all

    select
        campaign_id,
        person_id,
        variant,
        cast(send_date as timestamp) as assigned_at,
        lifecycle_stage_at_assignment as frozen_lifecycle_stage,
        rfm_segment_at_assignment as frozen_rfm_segment
    from send_plans

),

assignments as (

    select
        campaign_id,
        person_id,
        coalesce(any_value(variant), 'all') as variant,
        min(assigned_at) as assigned_at,
        any_value(frozen_lifecycle_stage) as frozen_lifecycle_stage,
        any_value(frozen_rfm_segment) as frozen_rfm_segment
    from assigned
    group by campaign_id, person_id

),

histories as (

    select
        assignments.campaign_id,
        assignments.person_id,
        min(orders.ordered_at) as first_order_at,
        max(orders.ordered_at) as last_order_at
    from assignments
    left join orders
        on
            assignments.person_id = orders.person_id
            and assignments.assigned_at > orders.ordered_at
    group by assignments.campaign_id, assignments.person_id

),

-- The first web event on or after the assignment, by an as-of join: a range join on
-- person would pair every event with every campaign of the person.
first_visits as (

    select
        assignments.campaign_id,
        assignments.person_id,
        web_events.occurred_at as first_visit_at
    from assignments
    asof left join web_events
        on
            assignments.person_id = web_events.person_id
            and assignments.assigned_at <= web_events.occurred_at

),

responses as (

    select
        assignments.campaign_id,
        assignments.person_id,
        coalesce(bool_or(email_events.event_type = 'delivered'), false) as was_delivered,
        coalesce(bool_or(email_events.event_type = 'open'), false) as has_opened,
        coalesce(bool_or(email_events.event_type = 'click'), false) as has_clicked,
        coalesce(bool_or(email_events.event_type = 'unsubscribe'), false) as has_unsubscribed,
        coalesce(bool_or(email_events.event_type = 'complaint'), false) as has_complained
    from assignments
    left join email_events
        on
            assignments.campaign_id = email_events.campaign_id
            and assignments.person_id = email_events.person_id
    group by assignments.campaign_id, assignments.person_id

),

conversions as (

    select
        assignments.campaign_id,
        assignments.person_id,
        count(orders.order_id) > 0 as has_converted_7d,
        coalesce(sum(orders.total_amount_eur), 0) as revenue_7d_eur
    from assignments
    cross join as_of
    left join orders
        on
            assignments.person_id = orders.person_id
            and assignments.assigned_at <= orders.ordered_at
            and assignments.assigned_at + interval 7 day > orders.ordered_at
            and as_of.as_of_at >= orders.ordered_at
    group by assignments.campaign_id, assignments.person_id

),

attribution as (

    select
        attributed_campaign_id as campaign_id,
        person_id,
        count(*) as attributed_orders,
        sum(total_amount_eur) as attributed_revenue_eur
    from attributed_orders
    where is_attributed
    group by attributed_campaign_id, person_id

),

per_person as (

    select
        assignments.campaign_id,
        assignments.variant,
        assignments.assigned_at,
        coalesce(
            assignments.frozen_lifecycle_stage,
            {{ lifecycle_stage('histories.first_order_at', 'histories.last_order_at', 'assignments.assigned_at') }}
        ) as lifecycle_stage_at_assignment,
        coalesce(assignments.frozen_rfm_segment, 'not recorded') as rfm_segment_at_assignment,
        responses.was_delivered,
        responses.has_opened,
        responses.has_clicked,
        responses.has_unsubscribed,
        responses.has_complained,
        coalesce(
            first_visits.first_visit_at < assignments.assigned_at + interval 7 day
            and first_visits.first_visit_at <= (select as_of.as_of_at from as_of),
            false
        ) as has_visited_7d,
        conversions.has_converted_7d,
        conversions.revenue_7d_eur,
        coalesce(attribution.attributed_orders, 0) as attributed_orders,
        coalesce(attribution.attributed_revenue_eur, 0) as attributed_revenue_eur
    from assignments
    inner join responses
        on assignments.campaign_id = responses.campaign_id and assignments.person_id = responses.person_id
    inner join conversions
        on assignments.campaign_id = conversions.campaign_id and assignments.person_id = conversions.person_id
    left join attribution
        on assignments.campaign_id = attribution.campaign_id and assignments.person_id = attribution.person_id
    inner join histories
        on assignments.campaign_id = histories.campaign_id and assignments.person_id = histories.person_id
    inner join first_visits
        on assignments.campaign_id = first_visits.campaign_id and assignments.person_id = first_visits.person_id

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
    from per_person
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
