{#- Each arm of each of our own campaigns by every segment its people were in when
    assigned, frozen in our send plans: a person in several segments counts in each, so
    rows do not add up to the arm. The email service's campaigns record no segments. An
    arm's window closes 7 days after its last assignment. -#}

with

assignments as (

    select * from {{ ref('campaign_assignments') }}

),

as_of as (

    select as_of_at from {{ ref('pipeline_as_of') }}

),

memberships as (

    select
        campaign_id,
        variant,
        assigned_at,
        has_visited_7d,
        has_converted_7d,
        revenue_7d_eur,
        unnest(segments_at_assignment) as segment_at_assignment
    from assignments
    where segments_at_assignment is not null

),

counted as (

    select
        campaign_id,
        variant,
        segment_at_assignment,
        count(*) as recipients,
        max(assigned_at) as last_assigned_at,
        count(*) filter (where has_visited_7d) as visited_7d,
        count(*) filter (where has_converted_7d) as converted_7d,
        sum(revenue_7d_eur) as revenue_7d_eur,
        sum(power(cast(revenue_7d_eur as double), 2)) as revenue_7d_sq_eur
    from memberships
    group by campaign_id, variant, segment_at_assignment

),

final as (

    select
        md5(concat_ws('|', campaign_id, variant, segment_at_assignment)) as campaign_segment_metric_id,
        campaign_id,
        variant,
        variant = 'holdout' as is_holdout,
        segment_at_assignment,
        recipients,
        last_assigned_at + interval 7 day as window_closes_at,
        last_assigned_at + interval 7 day <= (select as_of.as_of_at from as_of) as is_window_closed,
        visited_7d,
        converted_7d,
        cast(revenue_7d_eur as decimal(18, 2)) as revenue_7d_eur,
        cast(revenue_7d_sq_eur as double) as revenue_7d_sq_eur,
        converted_7d / recipients as conversion_rate_7d
    from counted

)

select * from final
