{#- Label propagation over a bipartite graph of records and identifiers, unrolled into CTEs.

    Each round gives every identifier the smallest label of its records, then every record
    the smallest label of its identifiers, so after n rounds records up to 2n hops apart
    agree. The test `assert_identity_components_converged` fails if the rounds ran out
    before the labels settled; raise `identity_resolution_rounds` then. Plain SQL, so it
    runs on any warehouse. -#}
{% macro connected_components(edges, record_column, identifier_column, rounds) %}
    labels_0 as (
        select distinct {{ record_column }} as node, {{ record_column }} as label
        from {{ edges }}
    ),
    {% for i in range(1, rounds + 1) %}
    identifier_labels_{{ i }} as (
        select e.{{ identifier_column }} as identifier, min(l.label) as label
        from {{ edges }} as e
        inner join labels_{{ i - 1 }} as l on e.{{ record_column }} = l.node
        group by e.{{ identifier_column }}
    ),
    labels_{{ i }} as (
        select e.{{ record_column }} as node, min(il.label) as label
        from {{ edges }} as e
        inner join identifier_labels_{{ i }} as il on e.{{ identifier_column }} = il.identifier
        group by e.{{ record_column }}
    ),
    {% endfor %}
    components as (
        select node, label from labels_{{ rounds }}
    )
{% endmacro %}
