{#- The as-of timestamp as a SQL expression: the `as_of` var when set, else the latest event. -#}
{% macro as_of_literal() -%}
    {%- set value = var('as_of', '') -%}
    {%- if value in (none, '') -%}null{%- else -%}cast('{{ value }}' as timestamp){%- endif -%}
{%- endmacro %}
