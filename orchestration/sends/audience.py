"""Who may be mailed: the send audience every campaign draws its recipients from."""

from orchestration.privacy.identifiers import sql_hash

# Only marketable people enter the send audience: consent, no unsubscribe, complaint or hard
# bounce, a valid email, and not on the suppression list (binds the privacy salt as its one
# parameter). No campaign can widen it.
SEND_AUDIENCE_SQL = """
    with as_of as (
        select as_of_at from marts.pipeline_as_of
    ),
    carts as (
        -- What a cart abandoner added in the last day and has not bought since.
        select w.person_id,
            list(distinct struct_pack(product_id := p.product_id, product_name := p.product_name,
                                      product_url := p.product_url, image_url := p.image_url,
                                      price := cast(p.price as double))) as cart_items
        from marts.fct_web_events as w
        join marts.dim_customers as c on w.person_id = c.person_id and c.is_cart_abandoner_24h
        join marts.dim_products as p on w.product_id = p.product_id
        cross join as_of
        where w.event_type = 'add_to_cart'
            and w.occurred_at between as_of.as_of_at - interval 1 day and as_of.as_of_at
        group by w.person_id
    ),
    browsed as (
        -- What a person viewed in the last day and has neither carted nor bought since.
        select w.person_id,
            list(distinct struct_pack(product_id := p.product_id, product_name := p.product_name,
                                      product_url := p.product_url, image_url := p.image_url,
                                      price := cast(p.price as double))) as browsed_items
        from marts.fct_web_events as w
        join marts.dim_products as p on w.product_id = p.product_id
        cross join as_of
        where w.event_type = 'product_view'
            and w.occurred_at between as_of.as_of_at - interval 1 day and as_of.as_of_at
            and not exists (
                select 1 from marts.fct_order_items as i
                where i.person_id = w.person_id and i.product_id = w.product_id
                    and i.ordered_at >= w.occurred_at
            )
        group by w.person_id
    ),
    recs as (
        select r.person_id,
            list(struct_pack(product_id := p.product_id, product_name := p.product_name,
                             product_url := p.product_url, image_url := p.image_url,
                             price := cast(p.price as double))
                 order by r.rank) as products
        from ml.customer_recommendations as r
        join marts.dim_products as p on r.product_id = p.product_id
        group by r.person_id
    )
    select c.person_id, c.email, c.first_name, c.last_name, c.city, c.country_code,
        c.favourite_category, c.loyalty_tier, c.order_count, c.has_marketing_consent,
        c.lifecycle_stage, c.rfm_segment, carts.cart_items, browsed.browsed_items,
        c.preferred_send_hour,
        c.is_unsubscribed, c.has_complained, c.has_hard_bounced, c.is_email_valid,
        s.purchase_propensity, r.products
    from marts.dim_customers as c
    left join recs as r on c.person_id = r.person_id
    left join ml.customer_scores as s on c.person_id = s.person_id
    left join carts on c.person_id = carts.person_id
    left join browsed on c.person_id = browsed.person_id
    where c.is_marketable
        and not exists (
            select 1 from privacy.suppression_list as suppressed
            where suppressed.email_hash = {email_hash}
        )
    -- Stored in the order exports read it, so each read of a few batches skips the rest.
    order by c.person_id
""".format(email_hash=sql_hash("email", "c.email"))
