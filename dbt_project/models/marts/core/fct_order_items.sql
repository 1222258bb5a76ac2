with

order_items as (

    select * from {{ ref('stg_shop__order_items') }}

),

orders as (

    select * from {{ ref('fct_orders') }}

),

products as (

    select * from {{ ref('stg_shop__products') }}

),

final as (

    select
        order_items.order_item_id,
        order_items.order_id,
        orders.person_id,
        orders.ordered_at,
        order_items.product_id,
        products.category,
        order_items.quantity,
        order_items.unit_price,
        order_items.line_amount
    from order_items
    inner join orders on order_items.order_id = orders.order_id
    left join products on order_items.product_id = products.product_id

)

select * from final
