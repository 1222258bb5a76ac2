"""Great Expectations gates as blocking asset checks: a failed critical expectation stops
the sends; failed warnings are reported and let them go."""

import dagster as dg
from dagster_duckdb import DuckDBResource

from orchestration.lib import quality, settings


def _result(outcome: quality.ValidationOutcome) -> dg.AssetCheckResult:
    failures = [
        {
            "expectation": f.expectation,
            "column": f.column,
            "severity": f.severity,
            "observed": f.observed,
        }
        for f in outcome.failures
    ]
    metadata = {
        "expectations_evaluated": outcome.evaluated,
        "critical_failures": len(outcome.critical_failures),
        "warnings": len(outcome.failures) - len(outcome.critical_failures),
        "failures": dg.MetadataValue.json(failures),
    }
    if outcome.docs_path is not None:
        metadata["data_docs"] = dg.MetadataValue.url(outcome.docs_path.as_uri())
    severity = (
        dg.AssetCheckSeverity.ERROR if outcome.critical_failures else dg.AssetCheckSeverity.WARN
    )
    return dg.AssetCheckResult(passed=not outcome.failures, severity=severity, metadata=metadata)


@dg.asset_check(asset="dim_customers", blocking=True)
def dim_customers_meets_expectations(duckdb: DuckDBResource) -> dg.AssetCheckResult:
    """Unique, non-null person ids, sane amounts and a consent flag for every person."""
    with duckdb.get_connection() as conn:
        frame = conn.execute("select * from marts.dim_customers").df()
    return _result(quality.validate(settings.gx_context_dir(), "dim_customers", frame))


@dg.asset_check(asset="send_audience", blocking=True)
def send_audience_is_consented_and_valid(duckdb: DuckDBResource) -> dg.AssetCheckResult:
    """Everyone the sends would reach has consent and a well-formed email, once."""
    with duckdb.get_connection() as conn:
        frame = conn.execute(
            "select person_id, email, has_marketing_consent from email.send_audience"
        ).df()
    return _result(quality.validate(settings.gx_context_dir(), "send_audience", frame))


@dg.asset_check(asset="customer_scores", blocking=True)
def customer_scores_are_probabilities(duckdb: DuckDBResource) -> dg.AssetCheckResult:
    """One score per person, each within [0, 1]."""
    with duckdb.get_connection() as conn:
        frame = conn.execute("select * from ml.customer_scores").df()
    return _result(quality.validate(settings.gx_context_dir(), "customer_scores", frame))
