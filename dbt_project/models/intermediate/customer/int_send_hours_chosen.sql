{#- The hour (UTC) each person tends to read email: the hour of day of most of their opens
    and clicks, once there are at least 3; otherwise the hour the whole audience engages most. -#}

with

email_events as (

    select * from {{ ref('fct_email_events') }}

),

as_of as (

    select as_of_at from {{ ref('pipeline_as_of') }}

),

identity_links as (

    select * from {{ ref('identity_links') }}

),

engagements as (

    select
        email_events.person_id,
        hour(email_events.occurred_at) as hour_of_day
    from email_events
    cross join as_of
    where
        email_events.event_type in ('open', 'click')
        and email_events.occurred_at <= as_of.as_of_at

),

best_overall as (

    select hour_of_day as best_hour
    from engagements
    group by hour_of_day
    order by count(*) desc, hour_of_day asc
    limit 1

),

by_person as (

    select
        person_id,
        hour_of_day,
        count(*) as engagements
    from engagements
    group by person_id, hour_of_day

),

ranked as (

    select
        person_id,
        hour_of_day,
        sum(engagements) over (partition by person_id) as total_engagements,
        row_number() over (
            partition by person_id order by engagements desc, hour_of_day asc
        ) as hour_rank
    from by_person

),

people as (

    select distinct person_id from identity_links

),

final as (

    select
        people.person_id,
        cast(case
            when ranked.total_engagements >= 3 then ranked.hour_of_day
            else coalesce(best_overall.best_hour, 9)
        end as integer) as preferred_send_hour,
        case
            when ranked.total_engagements >= 3 then 'personal' else 'overall'
        end as send_hour_source
    from people
    left join ranked on people.person_id = ranked.person_id and ranked.hour_rank = 1
    left join best_overall on true

)

select * from final
