{#- The as-of timestamp as a SQL expression: the `as_of` var when set, else the latest event.
    `latest` (MAILPIPE_AS_OF=latest) also means the latest event; it only changes what the
    pipeline judges freshness against. -#}
{% macro as_of_literal() -%}
    {%- set value = var('as_of', '') -%}
    {%- if value in (none, '') or (value | string | lower) == 'latest' -%}null{%- else -%}cast('{{ value }}' as timestamp){%- endif -%}
{%- endmacro %}
