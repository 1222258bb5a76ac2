{#- Survivorship: each CRM attribute is the most recent non-null value among the person's CRM
    records (latest signup first); the email falls back from CRM to orders, to web identify
    events, to the email service. Consent is the newest statement in the person's consent
    history (int_consent_states_derived); a hard bounce stops mail regardless. -#}

with

as_of as (

    select * from {{ ref('pipeline_as_of') }}

),

identity_links as (

    select * from {{ ref('identity_links') }}

),

crm_customers as (

    select * from {{ ref('stg_crm__customers') }}

),

orders as (

    select * from {{ ref('fct_orders') }}

),

web_events as (

    select * from {{ ref('fct_web_events') }}

),

email_events as (

    select * from {{ ref('fct_email_events') }}

),

behaviours as (

    select * from {{ ref('int_customer_behaviours_summarized') }}

),

rfm as (

    select * from {{ ref('customer_rfm') }}

),

send_hours as (

    select * from {{ ref('int_send_hours_chosen') }}

),

consent as (

    select * from {{ ref('int_consent_states_derived') }}

),

scores as (

    select * from {{ ref('stg_ml__customer_scores') }}

),

stg_orders as (

    select * from {{ ref('stg_shop__orders') }}

),

stg_web_events as (

    select * from {{ ref('stg_web__events') }}

),

people as (

    select
        person_id,
        count(*) as source_records
    from identity_links
    group by person_id

),

crm_records as (

    select
        identity_links.person_id,
        crm_customers.*
    from crm_customers
    inner join identity_links
        on identity_links.source_table = 'crm_customers' and crm_customers.customer_id = identity_links.record_id

),

crm_profile as (

    select
        person_id,
        count(*) as crm_records,
        {{ latest_non_null('customer_id', 'signup_at') }} as customer_id,
        {{ latest_non_null('case when is_email_valid then email end', 'signup_at') }} as crm_email,
        {{ latest_non_null('first_name', 'signup_at') }} as first_name,
        {{ latest_non_null('last_name', 'signup_at') }} as last_name,
        {{ latest_non_null('phone_e164', 'signup_at') }} as phone_e164,
        {{ latest_non_null('city', 'signup_at') }} as city,
        {{ latest_non_null('country_code', 'signup_at') }} as country_code,
        {{ latest_non_null('birth_date', 'signup_at') }} as birth_date,
        {{ latest_non_null('loyalty_tier', 'signup_at') }} as loyalty_tier,
        min(signup_at) as signed_up_at
    from crm_records
    group by person_id

),

order_emails as (

    select
        identity_links.person_id,
        {{ latest_non_null('stg_orders.email', 'stg_orders.ordered_at') }} as email
    from stg_orders
    inner join identity_links
        on identity_links.source_table = 'shop_orders' and stg_orders.order_id = identity_links.record_id
    where stg_orders.is_email_valid
    group by identity_links.person_id

),

identify_emails as (

    select
        identity_links.person_id,
        {{ latest_non_null('stg_web_events.email', 'stg_web_events.occurred_at') }} as email
    from stg_web_events
    inner join identity_links
        on identity_links.source_table = 'web_events' and stg_web_events.anonymous_id = identity_links.record_id
    where stg_web_events.event_type = 'identify' and stg_web_events.is_email_valid
    group by identity_links.person_id

),

recipient_emails as (

    select
        person_id,
        min(record_id) as email
    from identity_links
    where source_table = 'esp_email_events'
    group by person_id

),

order_stats as (

    select
        person_id,
        count(*) as order_count,
        cast(sum(total_amount_eur) as decimal(18, 2)) as total_revenue_eur,
        min(ordered_at) as first_order_at,
        max(ordered_at) as last_order_at
    from orders
    group by person_id

),

favourite_categories as (

    select * from {{ ref('int_favourite_categories_chosen') }}

),

web_stats as (

    select
        web_events.person_id,
        count(
            *) filter (
            where web_events.event_type = 'product_view'
            and web_events.occurred_at > {{ dbt.dateadd('day', -30, 'as_of.as_of_at') }}
        ) as product_views_30d,
        count(
            *) filter (
            where web_events.event_type = 'add_to_cart'
            and web_events.occurred_at > {{ dbt.dateadd('day', -30, 'as_of.as_of_at') }}
        ) as cart_adds_30d,
        max(web_events.occurred_at) as last_seen_at
    from web_events
    cross join as_of
    where web_events.occurred_at <= as_of.as_of_at
    group by web_events.person_id

),

email_stats as (

    select
        email_events.person_id,
        count(*) filter (where email_events.event_type = 'sent') as emails_sent,
        count(*) filter (where email_events.event_type = 'open') as emails_opened,
        count(*) filter (where email_events.event_type = 'click') as emails_clicked,
        max(email_events.occurred_at) filter (where email_events.event_type in ('open', 'click')) as last_engaged_at,
        max(email_events.occurred_at) filter (where email_events.event_type = 'open') as last_opened_at,
        max(email_events.occurred_at) filter (where email_events.event_type = 'click') as last_clicked_at,
        {{ any_true("email_events.event_type = 'bounce' and email_events.bounce_type = 'hard'") }} as has_hard_bounced
    from email_events
    cross join as_of
    where email_events.occurred_at <= as_of.as_of_at
    group by email_events.person_id

),

joined as (

    select
        people.person_id,
        crm_profile.customer_id,
        coalesce(crm_profile.crm_email, order_emails.email, identify_emails.email, recipient_emails.email) as email,
        crm_profile.first_name,
        crm_profile.last_name,
        crm_profile.phone_e164,
        crm_profile.city,
        crm_profile.country_code,
        crm_profile.birth_date,
        crm_profile.loyalty_tier,
        crm_profile.signed_up_at,
        coalesce(crm_profile.crm_records, 0) as crm_records,
        people.source_records,
        coalesce(consent.has_marketing_consent, false) as has_marketing_consent,
        consent.consent_updated_at,
        consent.consent_source,
        coalesce(consent.consent_event_type = 'unsubscribe', false) as is_unsubscribed,
        coalesce(consent.consent_event_type = 'complaint', false) as has_complained,
        coalesce(email_stats.has_hard_bounced, false) as has_hard_bounced,
        coalesce(order_stats.order_count, 0) as order_count,
        coalesce(order_stats.total_revenue_eur, 0) as total_revenue_eur,
        order_stats.first_order_at,
        order_stats.last_order_at,
        favourite_categories.favourite_category,
        coalesce(web_stats.product_views_30d, 0) as product_views_30d,
        coalesce(web_stats.cart_adds_30d, 0) as cart_adds_30d,
        web_stats.last_seen_at,
        coalesce(email_stats.emails_sent, 0) as emails_sent,
        coalesce(email_stats.emails_opened, 0) as emails_opened,
        coalesce(email_stats.emails_clicked, 0) as emails_clicked,
        email_stats.last_engaged_at,
        email_stats.last_opened_at,
        email_stats.last_clicked_at,
        rfm.recency_days as rfm_recency_days,
        rfm.r_score,
        rfm.f_score,
        rfm.m_score,
        rfm.rfm_segment,
        behaviours.has_engaged_with_last_3_emails,
        behaviours.last_interaction_at,
        behaviours.days_since_last_interaction,
        behaviours.days_since_last_activity,
        behaviours.days_since_last_order,
        behaviours.orders_30d,
        behaviours.orders_365d,
        behaviours.has_viewed_unbought_product_7d,
        behaviours.has_browsed_category_without_buying_7d,
        behaviours.is_cart_abandoner_1h,
        behaviours.is_cart_abandoner_24h,
        behaviours.is_first_purchase_anniversary,
        behaviours.lifecycle_stage,
        scores.purchase_propensity,
        scores.purchase_propensity_model_version as propensity_model_version,
        scores.churn_probability,
        scores.churn_risk_model_version as churn_model_version,
        scores.expected_purchases_30d,
        scores.expected_purchases_90d,
        scores.expected_purchases_365d,
        scores.probability_alive,
        cast(round(scores.expected_order_value_eur, 2) as decimal(18, 2)) as expected_order_value_eur,
        cast(round(scores.clv_eur, 2) as decimal(18, 2)) as clv_365d_eur,
        scores.predicted_next_order_at,
        scores.persona,
        scores.uplift_7d,
        scores.uplift_rank_pct,
        scores.uplift_model_version,
        send_hours.preferred_send_hour,
        send_hours.send_hour_source
    from people
    left join crm_profile on people.person_id = crm_profile.person_id
    left join order_emails on people.person_id = order_emails.person_id
    left join identify_emails on people.person_id = identify_emails.person_id
    left join recipient_emails on people.person_id = recipient_emails.person_id
    left join order_stats on people.person_id = order_stats.person_id
    left join favourite_categories on people.person_id = favourite_categories.person_id
    left join web_stats on people.person_id = web_stats.person_id
    left join email_stats on people.person_id = email_stats.person_id
    left join behaviours on people.person_id = behaviours.person_id
    left join rfm on people.person_id = rfm.person_id
    left join scores on people.person_id = scores.person_id
    left join consent on people.person_id = consent.person_id
    left join send_hours on people.person_id = send_hours.person_id

),

final as (

    select
        joined.*,
        {{ is_valid_email('joined.email') }} as is_email_valid,
        case
            when joined.order_count > 0
                then cast(round(joined.total_revenue_eur / joined.order_count, 2) as decimal(18, 2))
        end as avg_order_value_eur,
        (
            joined.has_marketing_consent
            and not joined.is_unsubscribed
            and not joined.has_complained
            and not joined.has_hard_bounced
            and {{ is_valid_email('joined.email') }}
        ) as is_marketable,
        {#- 0 to 100: 40 for the open rate, 30 for the click rate, 30 for an interaction in the
            last 90 days, fading linearly with its age. -#}
        
        cast(round(
            100 * (
                0.4
                * case when joined.emails_sent > 0 then least(1.0, joined.emails_opened / joined.emails_sent) else 0 end
                + 0.3
                * case
                    when joined.emails_sent > 0 then least(1.0, joined.emails_clicked / joined.emails_sent) else 0
                end
                + 0.3 * greatest(0.0, 1 - coalesce(joined.days_since_last_interaction, 90) / 90.0)
            )
        ) as integer) as engagement_score
    from joined

)

select * from final
