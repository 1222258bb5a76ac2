"""Probabilistic duplicates inside the CRM: pairs of records that no shared identifier links
but that a Fellegi–Sunter model, trained on these records without labels, scores at or above
the `identity_match_threshold` var.

A Python model because the model is Splink's (see orchestration/identity/probabilistic.py);
it runs on its own in-memory DuckDB and returns only the accepted pairs."""


def model(dbt, session):
    from orchestration.identity.probabilistic import match_people

    customers = dbt.ref("stg_crm__customers").df()
    records = customers.rename(columns={"customer_id": "record_id"})
    result = match_people(records, float(dbt.config.get("match_threshold")))
    pairs = result.pairs.rename(
        columns={"record_id_a": "customer_id_a", "record_id_b": "customer_id_b"}
    )
    pairs.insert(2, "match_rule", "probabilistic")
    return pairs
