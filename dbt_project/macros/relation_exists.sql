{#- Whether a relation exists yet: the pipeline's own outputs (scores, send plans), which a
    first build or dbt on its own runs before, or a model's previous build (`this`, which is
    none inside a unit test). -#}
{% macro relation_exists(relation) %}
    {{ return(execute and relation is not none and adapter.get_relation(relation.database, relation.schema, relation.identifier) is not none) }}
{% endmacro %}
