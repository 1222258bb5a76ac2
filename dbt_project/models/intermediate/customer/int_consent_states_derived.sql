{#- Each person's consent as of the as-of date: the newest statement wins, and on a tie the
    opt-out does. So an unsubscribe is only undone by a newer explicit opt-in. -#}

with

consent_events as (

    select * from {{ ref('int_consent_events_unioned') }}

),

as_of as (

    select as_of_at from {{ ref('pipeline_as_of') }}

),

known_events as (

    select consent_events.*
    from consent_events
    cross join as_of
    where consent_events.occurred_at <= as_of.as_of_at

),

ranked as (

    select
        *,
        row_number() over (
            partition by person_id
            order by occurred_at desc, is_opt_in asc, source_system asc, event_type asc
        ) as recency_rank
    from known_events

),

final as (

    select
        person_id,
        is_opt_in as has_marketing_consent,
        event_type as consent_event_type,
        source_system as consent_source,
        occurred_at as consent_updated_at
    from ranked
    where recency_rank = 1

)

select * from final
