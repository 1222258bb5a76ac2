{#- The scores exist once the ML assets have run; before that (a first build, or dbt on its
    own) this view is empty, so dim_customers still builds with null scores. -#}
{%- set scores = source('ml', 'customer_scores') -%}
{%- set exists = execute and adapter.get_relation(scores.database, scores.schema, scores.identifier) is not none -%}

with

source as (

    {% if exists %}
    select * from {{ scores }}
    {% else %}
        select
            cast(null as varchar) as person_id,
            cast(null as double) as purchase_propensity,
            cast(null as timestamp) as scored_as_of,
            cast(null as varchar) as model_name,
            cast(null as varchar) as model_version
        where 1 = 0
    {% endif %}

),

final as (

    select
        person_id,
        cast(purchase_propensity as double) as purchase_propensity,
        cast(scored_as_of as timestamp) as scored_as_of,
        model_name,
        cast(model_version as varchar) as model_version
    from source

)

select * from final
