{#- Every consent statement we hold, from both sources, attributed to a person. A CRM row
    states the consent as of its consent_updated_at (its signup when the CRM kept no
    timestamp): re-exporting an old opt-in repeats the same statement, it does not renew it.
    The email service's unsubscribes and complaints are opt-outs at the moment they happen. -#}

with

crm_customers as (

    select * from {{ ref('stg_crm__customers') }}

),

email_events as (

    select * from {{ ref('stg_esp__email_events') }}

),

identity_links as (

    select * from {{ ref('int_identities_resolved') }}

),

crm_statements as (

    select distinct
        identity_links.person_id,
        'crm' as source_system,
        case when crm_customers.has_marketing_consent then 'crm_opt_in' else 'crm_opt_out' end as event_type,
        crm_customers.has_marketing_consent as is_opt_in,
        coalesce(crm_customers.consent_updated_at, crm_customers.signup_at) as occurred_at,
        crm_customers.customer_id as source_record_id
    from crm_customers
    inner join identity_links
        on identity_links.source_table = 'crm_customers' and crm_customers.customer_id = identity_links.record_id
    where coalesce(crm_customers.consent_updated_at, crm_customers.signup_at) is not null

),

esp_opt_outs as (

    select distinct
        identity_links.person_id,
        'esp' as source_system,
        email_events.event_type,
        false as is_opt_in,
        email_events.occurred_at,
        email_events.event_id as source_record_id
    from email_events
    inner join identity_links
        on identity_links.source_table = 'esp_email_events' and email_events.email = identity_links.record_id
    where email_events.event_type in ('unsubscribe', 'complaint')

),

unioned as (

    select * from crm_statements
    union all
    select * from esp_opt_outs

),

final as (

    select
        md5(concat_ws('|', person_id, source_system, event_type, source_record_id, cast(occurred_at as varchar)))
            as consent_event_id,
        person_id,
        source_system,
        event_type,
        is_opt_in,
        occurred_at,
        source_record_id
    from unioned

)

select * from final
