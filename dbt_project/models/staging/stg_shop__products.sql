with

source as (

    select * from {{ source('raw', 'shop_products') }}

),

final as (

    select
        product_id,
        product_name,
        lower(trim(category)) as category,
        price,
        upper(coalesce(nullif(trim(currency), ''), 'EUR')) as currency,
        product_url,
        image_url
    from source

)

select * from final
