{#- Fuzzy duplicates inside the CRM: pairs of records that no shared identifier links but that
    are the same person by several fields at once. Two rules, each blocked on one field so
    that only plausible pairs are compared:
    - name, birth date and city: same birth date and city, first and last names similar;
    - email variant: the addresses agree once punctuation is dropped, or one is a cut-off of
      the other (an invalid export of the same address), and a name is similar. -#}

with

customers as (

    select
        customer_id,
        lower(first_name) as first_name,
        lower(last_name) as last_name,
        birth_date,
        lower(city) as city,
        {{ regex_remove("coalesce(email, '')", '[^a-z0-9]') }} as email_letters
    from {{ ref('stg_crm__customers') }}

),

same_birth_date as (

    select
        a.customer_id as customer_id_a,
        b.customer_id as customer_id_b,
        'fuzzy: name, birth date, city' as match_rule
    from customers as a
    inner join customers as b
        on
            a.birth_date = b.birth_date
            and a.city = b.city
            and a.customer_id < b.customer_id
    where
        {{ string_similarity('a.first_name', 'b.first_name') }} >= 0.88
        and {{ string_similarity('a.last_name', 'b.last_name') }} >= 0.88

),

email_variants as (

    select
        a.customer_id as customer_id_a,
        b.customer_id as customer_id_b,
        'fuzzy: email variant, name' as match_rule
    from customers as a
    inner join customers as b
        on
            left(a.email_letters, 8) = left(b.email_letters, 8)
            and a.customer_id < b.customer_id
    where
        length(a.email_letters) >= 8
        and length(b.email_letters) >= 8
        and (
            {{ text_starts_with('a.email_letters', 'b.email_letters') }}
            or {{ text_starts_with('b.email_letters', 'a.email_letters') }}
        )
        and (
            {{ string_similarity('a.first_name', 'b.first_name') }} >= 0.88
            or {{ string_similarity('a.last_name', 'b.last_name') }} >= 0.88
        )

),

final as (

    select * from same_birth_date
    union
    select * from email_variants

)

select * from final
