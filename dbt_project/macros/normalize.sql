{#- Identifiers are normalized once, in staging, so that every join downstream compares like with like. -#}

{% macro normalize_email(column) -%}
    nullif(lower(trim({{ column }})), '')
{%- endmacro %}

{% macro is_valid_email(column) -%}
    coalesce({{ regex_matches('lower(trim(' ~ column ~ '))', '^[a-z0-9._%+-]+@[a-z0-9-]+(\\.[a-z0-9-]+)*\\.[a-z]{2,}$') }}, false)
{%- endmacro %}

{% macro digits_only(column) -%}
    nullif({{ regex_remove(column, '[^0-9]') }}, '')
{%- endmacro %}

{% macro e164_phone(phone, digits, calling_code, trunk_prefix) -%}
    {#- An explicit +country wins. Otherwise drop the national trunk prefix (0 in Europe;
        in North America a leading 1 only on 11 digits) and add the country's calling code. -#}
    case
        when {{ digits }} is null then null
        when trim({{ phone }}) like '+%' then '+' || {{ digits }}
        when {{ calling_code }} is null then null
        when {{ trunk_prefix }} is not null
            and {{ text_starts_with(digits, trunk_prefix) }}
            and ({{ trunk_prefix }} != '1' or length({{ digits }}) = 11)
            then '+' || {{ calling_code }} || substr({{ digits }}, length({{ trunk_prefix }}) + 1)
        else '+' || {{ calling_code }} || {{ digits }}
    end
{%- endmacro %}

{% macro person_id(anchor) -%}
    {#- A readable id derived from the identity component's anchor record. -#}
    'p_' || substr(md5({{ anchor }}), 1, 16)
{%- endmacro %}

{% macro country_code(country) -%}
    {#- A country as exports write it (already trimmed and lower-cased) as its ISO code: an
        alias, else the English name, else the text itself upper-cased (a code, or a value
        the loader let through only if the seeds changed since). -#}
    coalesce(
        (
            select max(country_aliases.country_code)
            from {{ ref('country_aliases') }} as country_aliases
            where country_aliases.alias = {{ country }}
        ),
        (
            select max(countries.country_code)
            from {{ ref('countries') }} as countries
            where lower(countries.country_name) = {{ country }}
        ),
        upper({{ country }})
    )
{%- endmacro %}
