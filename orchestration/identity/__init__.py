"""Identity resolution's Python side: probabilistic matching of CRM records (Splink), run by
the dbt model int_crm_customers_matched, and its evaluation against ground truth (the demo's
and the FEBRL benchmarks'). The deterministic rules and the person ids live in dbt
(int_identifiers_extracted, int_identities_resolved)."""
