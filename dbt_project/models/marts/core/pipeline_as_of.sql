with

orders as (

    select max(ordered_at) as latest_at from {{ ref('stg_shop__orders') }}

),

web_events as (

    select max(occurred_at) as latest_at from {{ ref('stg_web__events') }}

),

email_events as (

    select max(occurred_at) as latest_at from {{ ref('stg_esp__email_events') }}

),

-- A CRM export alone still dates the data: its newest signup or consent statement.
crm_customers as (

    select greatest(max(signup_at), max(consent_updated_at)) as latest_at
    from {{ ref('stg_crm__customers') }}

),

latest as (

    select max(latest_at) as latest_event_at
    from (
        select latest_at from orders
        union all
        select latest_at from web_events
        union all
        select latest_at from email_events
        union all
        select latest_at from crm_customers
    ) as sources

),

final as (

    select
        coalesce({{ as_of_literal() }}, latest.latest_event_at, cast(current_date as timestamp)) as as_of_at,
        latest.latest_event_at,
        {{ as_of_literal() }} is not null as is_pinned
    from latest

)

select * from final
