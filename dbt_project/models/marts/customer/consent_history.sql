with

consent_events as (

    select * from {{ ref('int_consent_events_unioned') }}

),

as_of as (

    select as_of_at from {{ ref('pipeline_as_of') }}

),

final as (

    select
        consent_events.consent_event_id,
        consent_events.person_id,
        consent_events.source_system,
        consent_events.event_type,
        consent_events.is_opt_in,
        consent_events.occurred_at,
        consent_events.source_record_id
    from consent_events
    cross join as_of
    where consent_events.occurred_at <= as_of.as_of_at

)

select * from final
