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

    select * from {{ ref('stg_web__events') }}

),

web_events as (

    select * from source_rows
    {{ incremental_filter('anonymous_id', 'web_events') }}

),

identity_links as (

    select * from {{ ref('identity_links') }}
    where source_table = 'web_events'

),

products as (

    select * from {{ ref('stg_shop__products') }}

),

final as (

    select
        web_events.event_id,
        identity_links.person_id,
        web_events.anonymous_id,
        web_events.customer_id,
        web_events.session_id,
        web_events.event_type,
        web_events.occurred_at,
        web_events.received_at,
        web_events.product_id,
        products.category,
        web_events.search_query,
        web_events.quantity,
        web_events._loaded_at
    from web_events
    inner join identity_links on web_events.anonymous_id = identity_links.record_id
    left join products on web_events.product_id = products.product_id

)

select * from final
