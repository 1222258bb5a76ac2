{#- Every source record and each identifier it carries. Two records that share an identifier
    (an email, a phone, a customer id) belong to the same person; every record also carries
    itself, so a record with no identifier still becomes a profile of its own. -#}

with

crm_customers as (

    select * from {{ ref('stg_crm__customers') }}

),

web_events as (

    select * from {{ ref('stg_web__events') }}

),

orders as (

    select * from {{ ref('stg_shop__orders') }}

),

email_events as (

    select * from {{ ref('stg_esp__email_events') }}

),

crm_identifiers as (

    select
        'crm_customers' as source_table,
        customer_id as record_id,
        'crm customer_id' as link_rule,
        'customer_id:' || customer_id as identifier_key
    from crm_customers
    union all
    select
        'crm_customers' as source_table,
        customer_id as record_id,
        'email' as link_rule,
        'email:' || email as identifier_key
    from crm_customers
    where is_email_valid
    union all
    select
        'crm_customers' as source_table,
        customer_id as record_id,
        'phone' as link_rule,
        'phone:' || phone_e164 as identifier_key
    from crm_customers
    where phone_e164 is not null

),

probabilistic_matches as (

    select * from {{ ref('int_crm_customers_matched') }}

),

probabilistic_identifiers as (

    select
        'crm_customers' as source_table,
        customer_id_a as record_id,
        match_rule as link_rule,
        'crm_match:' || customer_id_a as identifier_key
    from probabilistic_matches
    union all
    select
        'crm_customers' as source_table,
        customer_id_b as record_id,
        match_rule as link_rule,
        'crm_match:' || customer_id_a as identifier_key
    from probabilistic_matches

),

web_identifiers as (

    select distinct
        'web_events' as source_table,
        anonymous_id as record_id,
        'anonymous id' as link_rule,
        'anonymous_id:' || anonymous_id as identifier_key
    from web_events
    union all
    select distinct
        'web_events' as source_table,
        anonymous_id as record_id,
        'login' as link_rule,
        'customer_id:' || customer_id as identifier_key
    from web_events
    where customer_id is not null
    union all
    select distinct
        'web_events' as source_table,
        anonymous_id as record_id,
        'identify' as link_rule,
        'email:' || email as identifier_key
    from web_events
    where event_type = 'identify' and is_email_valid

),

order_identifiers as (

    select
        'shop_orders' as source_table,
        order_id as record_id,
        'order customer_id' as link_rule,
        'customer_id:' || customer_id as identifier_key
    from orders
    where customer_id is not null
    union all
    select
        'shop_orders' as source_table,
        order_id as record_id,
        'email' as link_rule,
        'email:' || email as identifier_key
    from orders
    where is_email_valid

),

recipient_identifiers as (

    select distinct
        'esp_email_events' as source_table,
        email as record_id,
        'email' as link_rule,
        'email:' || email as identifier_key
    from email_events
    where is_email_valid

),

linked as (

    select * from crm_identifiers
    union all
    select * from probabilistic_identifiers
    union all
    select * from web_identifiers
    union all
    select * from order_identifiers
    union all
    select * from recipient_identifiers

),

records as (

    select
        'crm_customers' as source_table,
        customer_id as record_id
    from crm_customers
    union
    select
        'web_events' as record_key,
        anonymous_id as source_table
    from web_events
    union
    select
        'shop_orders' as record_key,
        order_id as source_table
    from orders
    union
    select
        'esp_email_events' as record_key,
        email as source_table
    from email_events
    where email is not null

),

self_identifiers as (

    select
        source_table,
        record_id,
        'record' as link_rule,
        'record:' || source_table || ':' || record_id as identifier_key
    from records

),

final as (

    select
        source_table || ':' || record_id as record_key,
        source_table,
        record_id,
        link_rule,
        identifier_key
    from linked
    union all
    select
        source_table || ':' || record_id as record_key,
        source_table,
        record_id,
        link_rule,
        identifier_key
    from self_identifiers

)

select * from final
