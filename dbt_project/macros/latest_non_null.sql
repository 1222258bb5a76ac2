{#- The most recent non-null value of a column within a group: the survivorship rule of
    dim_customers. Dispatched so that other warehouses can bring their own idiom. -#}
{% macro latest_non_null(column, order_by) -%}
    {{ return(adapter.dispatch('latest_non_null')(column, order_by)) }}
{%- endmacro %}

{% macro default__latest_non_null(column, order_by) -%}
    arg_max({{ column }}, {{ order_by }}) filter (where {{ column }} is not null)
{%- endmacro %}

{% macro postgres__latest_non_null(column, order_by) -%}
    (array_agg({{ column }} order by {{ order_by }} desc) filter (where {{ column }} is not null))[1]
{%- endmacro %}
