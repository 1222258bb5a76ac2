with

source as (

    select * from {{ source('raw', 'crm_customers') }}

),

countries as (

    select * from {{ ref('countries') }}

),

cleaned as (

    select
        customer_id,
        {{ normalize_email('email') }} as email,
        {{ is_valid_email('email') }} as is_email_valid,
        nullif(trim(first_name), '') as first_name,
        nullif(trim(last_name), '') as last_name,
        phone as phone_raw,
        {{ digits_only('phone') }} as phone_digits,
        nullif(trim(city), '') as city,
        nullif(trim(postcode), '') as postcode,
        lower(nullif(trim(country), '')) as country_raw,
        birth_date,
        signup_at,
        loyalty_tier,
        coalesce(marketing_consent, false) as has_marketing_consent,
        consent_updated_at,
        _source_file,
        _source_line
    from source

),

standardized as (

    select
        cleaned.*,
        {{ country_code('cleaned.country_raw') }} as country_code
    from cleaned

),

final as (

    select
        cleaned.customer_id,
        cleaned.email,
        cleaned.is_email_valid,
        cleaned.first_name,
        cleaned.last_name,
        {{ e164_phone(
            'cleaned.phone_raw', 'cleaned.phone_digits', 'countries.calling_code', 'countries.trunk_prefix'
        ) }} as phone_e164,
        cleaned.city,
        cleaned.postcode,
        cleaned.country_code,
        cleaned.birth_date,
        cleaned.signup_at,
        cleaned.loyalty_tier,
        cleaned.has_marketing_consent,
        cleaned.consent_updated_at,
        cleaned._source_file,
        cleaned._source_line
    from standardized as cleaned
    left join countries on cleaned.country_code = countries.country_code

)

select * from final
