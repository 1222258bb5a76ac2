with

products as (

    select * from {{ ref('stg_shop__products') }}

),

order_items as (

    select * from {{ ref('fct_order_items') }}

),

sales as (

    select
        product_id,
        count(distinct order_id) as orders_containing,
        cast(sum(quantity) as bigint) as units_sold
    from order_items
    group by product_id

),

final as (

    select
        products.product_id,
        products.product_name,
        products.category,
        products.price,
        products.currency,
        products.product_url,
        products.image_url,
        coalesce(sales.orders_containing, 0) as orders_containing,
        coalesce(sales.units_sold, 0) as units_sold
    from products
    left join sales on products.product_id = sales.product_id

)

select * from final
