{#- Whether a source table exists yet: for the pipeline's own outputs (scores, send plans),
    which a first build or dbt on its own runs before. -#}
{% macro relation_exists(relation) %}
    {{ return(execute and adapter.get_relation(relation.database, relation.schema, relation.identifier) is not none) }}
{% endmacro %}
