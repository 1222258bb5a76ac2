{#- The scores exist once the ML assets have run; before that (a first build, or dbt on its
    own) this view is empty, so dim_customers still builds with null scores. -#}
{%- set scores = source('ml', 'customer_scores') -%}
{%- set exists = relation_exists(scores) -%}

with

source as (

    {% if exists %}
        select * from {{ scores }}
    {% else %}
        select
            cast(null as varchar) as person_id,
            cast(null as double) as purchase_propensity,
            cast(null as varchar) as purchase_propensity_model_version,
            cast(null as double) as churn_probability,
            cast(null as varchar) as churn_risk_model_version,
            cast(null as double) as expected_purchases_30d,
            cast(null as double) as expected_purchases_90d,
            cast(null as double) as expected_purchases_365d,
            cast(null as double) as probability_alive,
            cast(null as double) as expected_order_value_eur,
            cast(null as double) as clv_eur,
            cast(null as timestamp) as predicted_next_order_at,
            cast(null as integer) as clv_horizon_days,
            cast(null as double) as clv_discount_rate,
            cast(null as varchar) as clv_model_run_id,
            cast(null as varchar) as persona,
            cast(null as double) as uplift_7d,
            cast(null as double) as uplift_rank_pct,
            cast(null as varchar) as uplift_model_version,
            cast(null as timestamp) as scored_as_of
        where 1 = 0
    {% endif %}

),

final as (

    select
        person_id,
        cast(purchase_propensity as double) as purchase_propensity,
        cast(purchase_propensity_model_version as varchar) as purchase_propensity_model_version,
        cast(churn_probability as double) as churn_probability,
        cast(churn_risk_model_version as varchar) as churn_risk_model_version,
        cast(expected_purchases_30d as double) as expected_purchases_30d,
        cast(expected_purchases_90d as double) as expected_purchases_90d,
        cast(expected_purchases_365d as double) as expected_purchases_365d,
        cast(probability_alive as double) as probability_alive,
        cast(expected_order_value_eur as double) as expected_order_value_eur,
        cast(clv_eur as double) as clv_eur,
        cast(predicted_next_order_at as timestamp) as predicted_next_order_at,
        cast(clv_horizon_days as integer) as clv_horizon_days,
        cast(clv_discount_rate as double) as clv_discount_rate,
        cast(clv_model_run_id as varchar) as clv_model_run_id,
        cast(persona as varchar) as persona,
        cast(uplift_7d as double) as uplift_7d,
        cast(uplift_rank_pct as double) as uplift_rank_pct,
        cast(uplift_model_version as varchar) as uplift_model_version,
        cast(scored_as_of as timestamp) as scored_as_of
    from source

)

select * from final
