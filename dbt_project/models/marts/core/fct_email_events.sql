{{
    config(
        materialized='incremental',
        unique_key='event_id',
        incremental_strategy='delete+insert',
        on_schema_change='fail',
    )
}}

with

source_rows as (

    select * from {{ ref('stg_esp__email_events') }}

),

email_events as (

    select * from source_rows
    {{ incremental_filter('email', 'esp_email_events') }}

),

identity_links as (

    select * from {{ ref('identity_links') }}
    where source_table = 'esp_email_events'

),

final as (

    select
        email_events.event_id,
        identity_links.person_id,
        email_events.email,
        email_events.campaign_id,
        email_events.event_type,
        email_events.variant,
        email_events.occurred_at,
        email_events.bounce_type,
        email_events.link_url,
        email_events._loaded_at
    from email_events
    inner join identity_links on email_events.email = identity_links.record_id

)

select * from final
