{#- Our own campaigns' arms, holdout included: the email service exports only who it mailed.
    Empty until the first send has been planned. -#}
{%- set plans = source('email', 'send_plan') -%}
{%- set exists = relation_exists(plans) -%}
{#- Plans made before the pipeline froze each person's stage and segments lack them. -#}
{%- set columns = (adapter.get_columns_in_relation(plans) | map(attribute='name') | list) if exists else [] -%}

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
        cast(planned_at as timestamp) as planned_at,
        {% for column in ['lifecycle_stage', 'rfm_segment'] -%}
            {% if column in columns %}cast({{ column }} as varchar){% else %}cast(null as varchar){% endif %}
                as {{ column }}_at_assignment,
        {% endfor -%}
        {% if 'segments' in columns %}cast(segments as varchar[]){% else %}cast(null as varchar[]){% endif %}
            as segments_at_assignment
    from source

)

select * from final
