{#- The rows an incremental fact must (re)process: rows loaded after the newest load it has
    seen, plus every row whose identity record now belongs to another person (a new link
    merged two profiles). On a full refresh or first build: everything. Cross-database. -#}
{% macro incremental_filter(record_column, identity_source_table) -%}
    {%- if is_incremental() %}
    where
        source_rows._loaded_at > (select coalesce(max(_loaded_at), cast('1900-01-01' as timestamp)) from {{ this }})
        or source_rows.{{ record_column }} in (
            select identity_links.record_id
            from {{ ref('identity_links') }} as identity_links
            inner join (select distinct {{ record_column }}, person_id from {{ this }}) as existing
                on identity_links.record_id = existing.{{ record_column }}
            where
                identity_links.source_table = '{{ identity_source_table }}'
                and identity_links.person_id <> existing.person_id
        )
    {%- endif %}
{%- endmacro %}
