with

source as (

    select * from {{ source('raw', 'esp_email_events') }}

),

final as (

    select
        event_id,
        campaign_id,
        {{ normalize_email('email') }} as email,
        {{ is_valid_email('email') }} as is_email_valid,
        event_type,
        nullif(trim(variant), '') as variant,
        occurred_at,
        bounce_type,
        nullif(trim(link_url), '') as link_url,
        _loaded_at
    from source

)

select * from final
