with

source as (

    select * from {{ source('raw', 'shop_orders') }}

),

rates as (

    select * from {{ ref('currency_rates') }}

),

cleaned as (

    select
        order_id,
        nullif(trim(customer_id), '') as customer_id,
        {{ normalize_email('email') }} as email,
        {{ is_valid_email('email') }} as is_email_valid,
        ordered_at,
        upper(coalesce(nullif(trim(currency), ''), 'EUR')) as currency,
        total_amount,
        lower(nullif(trim(shipping_country), '')) as shipping_country_raw,
        _loaded_at
    from source

),

final as (

    select
        cleaned.order_id,
        cleaned.customer_id,
        cleaned.email,
        cleaned.is_email_valid,
        cleaned.customer_id is null as is_guest_checkout,
        cleaned.ordered_at,
        cleaned.currency,
        cleaned.total_amount,
        cast(round(cleaned.total_amount / rates.units_per_eur, 2) as decimal(18, 2)) as total_amount_eur,
        {{ country_code('cleaned.shipping_country_raw') }} as shipping_country_code,
        cleaned._loaded_at
    from cleaned
    left join rates on cleaned.currency = rates.currency

)

select * from final
