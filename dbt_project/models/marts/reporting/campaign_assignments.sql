{#- Who was in each arm of a campaign, one row per campaign and person: the email service's
    export (a sent event for a mailed variant, a holdout event for a control group it kept)
    and our own send plans (every variant and the holdout the email service never sees).
    Conversion is any order within 7 days of assignment, counted alike for mailed people and
    the holdout, so the arms compare fairly; attributed orders and revenue are last-click
    (int_orders_attributed). What the person was when assigned is frozen in our send plans;
    for the email service's campaigns, which freeze nothing, the stage comes from their
    orders before then: a stage at the as-of date would count the campaign's own converters
    as `active`. -#}


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
        cast(null as varchar) as frozen_rfm_segment,
        cast(null as varchar[]) as frozen_segments
    from email_events
    where event_type in ('sent', 'holdout')

    union all

    select
        campaign_id,
        person_id,
        variant,
        cast(send_date as timestamp) as assigned_at,
        lifecycle_stage_at_assignment as frozen_lifecycle_stage,
        rfm_segment_at_assignment as frozen_rfm_segment,
        segments_at_assignment as frozen_segments
    from send_plans

),

assignments as (

    select
        campaign_id,
        person_id,
        coalesce(any_value(variant), 'all') as variant,
        min(assigned_at) as assigned_at,
        any_value(frozen_lifecycle_stage) as frozen_lifecycle_stage,
        any_value(frozen_rfm_segment) as frozen_rfm_segment,
        any_value(frozen_segments) as frozen_segments
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

final as (

    select
        md5(concat_ws('|', assignments.campaign_id, assignments.person_id)) as campaign_assignment_id,
        assignments.campaign_id,
        assignments.person_id,
        assignments.variant,
        assignments.variant = 'holdout' as is_holdout,
        assignments.assigned_at,
        coalesce(
            assignments.frozen_lifecycle_stage,
            {{ lifecycle_stage('histories.first_order_at', 'histories.last_order_at', 'assignments.assigned_at') }}
        ) as lifecycle_stage_at_assignment,
        coalesce(assignments.frozen_rfm_segment, 'not recorded') as rfm_segment_at_assignment,
        assignments.frozen_segments as segments_at_assignment,
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

)

select * from final
