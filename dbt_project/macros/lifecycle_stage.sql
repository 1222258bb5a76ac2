{#- The lifecycle stage at a moment, from the first and last order before it: one definition
    for the customer view (at the as-of date) and for experiments (at assignment, so that a
    campaign's own conversions cannot move its people into `active`). -#}
{% macro lifecycle_stage(first_order_at, last_order_at, at) -%}
    case
        when {{ first_order_at }} is null then 'prospect'
        when {{ first_order_at }} > {{ dbt.dateadd('day', -30, at) }} then 'new'
        when {{ last_order_at }} > {{ dbt.dateadd('day', -90, at) }} then 'active'
        when {{ last_order_at }} > {{ dbt.dateadd('day', -180, at) }} then 'at_risk'
        else 'lapsed'
    end
{%- endmacro %}
