{#- The category a person bought most units of: dim_customers shows it, and the
    recommendations (which run before dim_customers) start from it. -#}

with

order_items as (

    select * from {{ ref('fct_order_items') }}

),

category_units as (

    select
        person_id,
        category,
        sum(quantity) as units
    from order_items
    where category is not null
    group by person_id, category

),

final as (

    select
        person_id,
        {{ latest_non_null('category', 'units') }} as favourite_category
    from category_units
    group by person_id

)

select * from final
