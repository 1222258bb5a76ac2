{#- Our own campaigns' arms, holdout included: the email service exports only who it mailed.
    Empty until the first send has been planned. -#}
{%- set plans = source('email', 'send_plan') -%}
{%- set exists = relation_exists(plans) -%}

with

source as (

    {% if exists %}
        select * from {{ plans }}
    {% else %}
        select
            cast(null as varchar) as campaign_id,
            cast(null as date) as send_date,
            cast(null as varchar) as person_id,
            cast(null as varchar) as variant,
            cast(null as integer) as batch_no,
            cast(null as timestamp) as planned_at
        where 1 = 0
    {% endif %}

),

final as (

    select
        campaign_id,
        cast(send_date as date) as send_date,
        person_id,
        variant,
        cast(planned_at as timestamp) as planned_at
    from source

)

select * from final
