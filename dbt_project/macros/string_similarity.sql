{#- Similarity of two strings in [0, 1], for fuzzy matching. Dispatched: DuckDB and Spark have
    Jaro-Winkler, Postgres has trigram similarity (pg_trgm). -#}
{% macro string_similarity(a, b) -%}
    {{ return(adapter.dispatch('string_similarity')(a, b)) }}
{%- endmacro %}

{% macro default__string_similarity(a, b) -%}
    jaro_winkler_similarity({{ a }}, {{ b }})
{%- endmacro %}

{% macro postgres__string_similarity(a, b) -%}
    similarity({{ a }}, {{ b }})
{%- endmacro %}
