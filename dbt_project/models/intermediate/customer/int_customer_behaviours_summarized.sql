{#- The behaviour our users' segment playbook asks about, per person, relative to the as-of
    date. An interaction is an email open or click, or a visit to the site. -#}

with

as_of as (

    select as_of_at from {{ ref('pipeline_as_of') }}

),

email_events as (

    select email_events.*
    from {{ ref('fct_email_events') }} as email_events
    cross join as_of
    where email_events.occurred_at <= as_of.as_of_at

),

web_events as (

    select web_events.*
    from {{ ref('fct_web_events') }} as web_events
    cross join as_of
    where web_events.occurred_at <= as_of.as_of_at

),

orders as (

    select orders.*
    from {{ ref('fct_orders') }} as orders
    cross join as_of
    where orders.ordered_at <= as_of.as_of_at

),

order_items as (

    select order_items.*
    from {{ ref('fct_order_items') }} as order_items
    cross join as_of
    where order_items.ordered_at <= as_of.as_of_at

),

sends_ranked as (

    select
        person_id,
        campaign_id,
        row_number() over (partition by person_id order by occurred_at desc, campaign_id asc) as send_rank
    from email_events
    where event_type = 'sent'

),

last_three_emails as (

    select
        sends_ranked.person_id,
        max(case when email_events.event_type in ('open', 'click') then 1 else 0 end) = 1 as has_engaged
    from sends_ranked
    left join email_events
        on
            sends_ranked.person_id = email_events.person_id
            and sends_ranked.campaign_id = email_events.campaign_id
    where sends_ranked.send_rank <= 3
    group by sends_ranked.person_id

),

interactions as (

    select
        person_id,
        occurred_at
    from email_events
    where event_type in ('open', 'click')
    union all
    select
        person_id,
        occurred_at
    from web_events

),

last_interactions as (

    select
        person_id,
        max(occurred_at) as last_interaction_at
    from interactions
    group by person_id

),

activity as (

    select
        person_id,
        occurred_at
    from interactions
    union all
    select
        person_id,
        ordered_at
    from orders

),

last_activity as (

    select
        person_id,
        max(occurred_at) as last_active_at
    from activity
    group by person_id

),

order_windows as (

    select
        orders.person_id,
        count(*) filter (where orders.ordered_at > {{ dbt.dateadd('day', -30, 'as_of.as_of_at') }}) as orders_30d,
        count(*) filter (where orders.ordered_at > {{ dbt.dateadd('day', -365, 'as_of.as_of_at') }}) as orders_365d,
        min(orders.ordered_at) as first_order_at,
        max(orders.ordered_at) as last_order_at
    from orders
    cross join as_of
    group by orders.person_id

),

recent_views as (

    select
        web_events.person_id,
        web_events.product_id,
        web_events.category,
        web_events.occurred_at
    from web_events
    cross join as_of
    where
        web_events.event_type = 'product_view'
        and web_events.occurred_at > {{ dbt.dateadd('day', -7, 'as_of.as_of_at') }}

),

unbought_views as (

    select distinct recent_views.person_id
    from recent_views
    where not exists (
            select 1
            from order_items
            where
                order_items.person_id = recent_views.person_id
                and order_items.product_id = recent_views.product_id
                and order_items.ordered_at >= recent_views.occurred_at
        )

),

category_browsing as (

    select
        recent_views.person_id,
        recent_views.category,
        count(*) as view_count
    from recent_views
    where recent_views.category is not null
    group by recent_views.person_id, recent_views.category
    having count(*) > 3

),

category_browsers as (

    select distinct category_browsing.person_id
    from category_browsing
    cross join as_of
    where not exists (
            select 1
            from order_items
            where
                order_items.person_id = category_browsing.person_id
                and order_items.category = category_browsing.category
                and order_items.ordered_at > {{ dbt.dateadd('day', -7, 'as_of.as_of_at') }}
        )

),

last_cart_adds as (

    select
        person_id,
        max(occurred_at) as last_cart_add_at
    from web_events
    where event_type = 'add_to_cart'
    group by person_id

),

cart_abandoners as (

    select
        last_cart_adds.person_id,
        last_cart_adds.last_cart_add_at
    from last_cart_adds
    where not exists (
            select 1
            from orders
            where
                orders.person_id = last_cart_adds.person_id
                and orders.ordered_at >= last_cart_adds.last_cart_add_at
        )

),

people as (

    select distinct person_id from {{ ref('identity_links') }}

),

final as (

    select
        people.person_id,
        coalesce(last_three_emails.has_engaged, false) as has_engaged_with_last_3_emails,
        last_interactions.last_interaction_at,
        last_activity.last_active_at,
        coalesce(order_windows.orders_30d, 0) as orders_30d,
        coalesce(order_windows.orders_365d, 0) as orders_365d,
        {{ dbt.datediff('order_windows.last_order_at', 'as_of.as_of_at', 'day') }}
            as days_since_last_order,
        {{ dbt.datediff('last_interactions.last_interaction_at', 'as_of.as_of_at', 'day') }}
            as days_since_last_interaction,
        {{ dbt.datediff('last_activity.last_active_at', 'as_of.as_of_at', 'day') }}
            as days_since_last_activity,
        unbought_views.person_id is not null as has_viewed_unbought_product_7d,
        category_browsers.person_id is not null as has_browsed_category_without_buying_7d,
        coalesce(cart_abandoners.last_cart_add_at > {{ dbt.dateadd('hour', -1, 'as_of.as_of_at') }}, false)
            as is_cart_abandoner_1h,
        coalesce(cart_abandoners.last_cart_add_at > {{ dbt.dateadd('day', -1, 'as_of.as_of_at') }}, false)
            as is_cart_abandoner_24h,
        coalesce(
            order_windows.first_order_at <= {{ dbt.dateadd('year', -1, 'as_of.as_of_at') }}
            and extract(month from order_windows.first_order_at) = extract(month from as_of.as_of_at)
            and extract(day from order_windows.first_order_at) = extract(day from as_of.as_of_at),
            false
        ) as is_first_purchase_anniversary,
        {{ lifecycle_stage('order_windows.first_order_at', 'order_windows.last_order_at', 'as_of.as_of_at') }}
            as lifecycle_stage
    from people
    cross join as_of
    left join last_three_emails on people.person_id = last_three_emails.person_id
    left join last_interactions on people.person_id = last_interactions.person_id
    left join last_activity on people.person_id = last_activity.person_id
    left join order_windows on people.person_id = order_windows.person_id
    left join unbought_views on people.person_id = unbought_views.person_id
    left join category_browsers on people.person_id = category_browsers.person_id
    left join cart_abandoners on people.person_id = cart_abandoners.person_id

)

select * from final
