with

source as (

    select * from {{ source('raw', 'web_events') }}

),

final as (

    select
        event_id,
        event_type,
        anonymous_id,
        nullif(trim(customer_id), '') as customer_id,
        {{ normalize_email('email') }} as email,
        {{ is_valid_email('email') }} as is_email_valid,
        session_id,
        occurred_at,
        received_at,
        page_url,
        product_id,
        search_query,
        quantity,
        _loaded_at
    from source

)

select * from final
