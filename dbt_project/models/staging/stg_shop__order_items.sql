with

source as (

    select * from {{ source('raw', 'shop_order_items') }}

),

final as (

    select
        order_id || '-' || cast(line_number as varchar) as order_item_id,
        order_id,
        line_number,
        product_id,
        quantity,
        unit_price,
        quantity * unit_price as line_amount
    from source

)

select * from final
