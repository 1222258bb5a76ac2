{#- Functions that differ between warehouses, dispatched so the models stay portable. The
    default implementation is DuckDB's; Postgres and Spark bring their own. -#}

{% macro regex_matches(value, pattern) -%}
    {{ return(adapter.dispatch('regex_matches')(value, pattern)) }}
{%- endmacro %}

{% macro default__regex_matches(value, pattern) -%}
    regexp_matches({{ value }}, '{{ pattern }}')
{%- endmacro %}

{% macro postgres__regex_matches(value, pattern) -%}
    ({{ value }} ~ '{{ pattern }}')
{%- endmacro %}

{% macro spark__regex_matches(value, pattern) -%}
    ({{ value }} rlike '{{ pattern }}')
{%- endmacro %}

{% macro regex_remove(value, pattern) -%}
    {{ return(adapter.dispatch('regex_remove')(value, pattern)) }}
{%- endmacro %}

{% macro default__regex_remove(value, pattern) -%}
    regexp_replace({{ value }}, '{{ pattern }}', '', 'g')
{%- endmacro %}

{% macro spark__regex_remove(value, pattern) -%}
    regexp_replace({{ value }}, '{{ pattern }}', '')
{%- endmacro %}

{% macro text_starts_with(value, prefix) -%}
    (left({{ value }}, length({{ prefix }})) = {{ prefix }})
{%- endmacro %}

{% macro any_true(condition) -%}
    (max(case when {{ condition }} then 1 else 0 end) = 1)
{%- endmacro %}
