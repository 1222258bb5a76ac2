{#- Last-click attribution: an order belongs to the campaign whose email the buyer clicked
    last within the 7 days before ordering; orders with no such click are unattributed. -#}

with

orders as (

    select * from {{ ref('fct_orders') }}

),

email_events as (

    select * from {{ ref('fct_email_events') }}

),

clicks as (

    select
        person_id,
        campaign_id,
        variant,
        occurred_at as clicked_at
    from email_events
    where event_type = 'click'

),

candidates as (

    select
        orders.order_id,
        clicks.campaign_id,
        clicks.variant,
        clicks.clicked_at,
        row_number() over (
            partition by orders.order_id
            order by clicks.clicked_at desc, clicks.campaign_id asc
        ) as click_rank
    from orders
    inner join clicks
        on
            orders.person_id = clicks.person_id
            and orders.ordered_at >= clicks.clicked_at
            and orders.ordered_at - interval 7 day < clicks.clicked_at

),

final as (

    select
        orders.order_id,
        orders.person_id,
        orders.ordered_at,
        orders.total_amount_eur,
        candidates.campaign_id as attributed_campaign_id,
        candidates.variant as attributed_variant,
        candidates.clicked_at as attributed_click_at,
        candidates.campaign_id is not null as is_attributed
    from orders
    left join candidates on orders.order_id = candidates.order_id and candidates.click_rank = 1

)

select * from final
