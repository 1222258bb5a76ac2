"""Great Expectations gates as blocking asset checks: a failed critical expectation stops
the sends; failed warnings are reported and let them go."""

import dagster as dg
from dagster_duckdb import DuckDBResource

from orchestration import quality, settings, warehouse
from orchestration.ingest import freshness


def gx_check_result(
    outcome: quality.ValidationOutcome, check_name: str | None = None, extra: dict | None = None
) -> dg.AssetCheckResult:
    """A GX validation as a check result: critical failures are errors, warnings warn."""
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
        **(extra or {}),
    }
    if outcome.docs_path is not None:
        metadata["data_docs"] = dg.MetadataValue.url(outcome.docs_path.as_uri())
    severity = (
        dg.AssetCheckSeverity.ERROR if outcome.critical_failures else dg.AssetCheckSeverity.WARN
    )
    return dg.AssetCheckResult(
        passed=not outcome.failures, severity=severity, metadata=metadata, check_name=check_name
    )


def _validate_table(conn, name: str, sql: str, **kwargs) -> dg.AssetCheckResult:
    frame = conn.execute(sql).df()
    previous = quality.previous_row_count(conn, name)
    outcome = quality.validate(
        settings.gx_context_dir(), name, frame, previous_rows=previous, **kwargs
    )
    quality.record_row_count(conn, name, len(frame))
    return gx_check_result(
        outcome, extra={"row_count": len(frame), "previous_row_count": previous or 0}
    )


@dg.asset_check(asset="dim_customers", blocking=True)
def dim_customers_meets_expectations(duckdb: DuckDBResource) -> dg.AssetCheckResult:
    """Unique person ids, sane amounts, a consent flag for everyone, fresh data, no collapse in rows."""
    with duckdb.get_connection() as conn:
        as_of = warehouse.as_of(conn)
        return _validate_table(
            conn, "dim_customers", "select * from marts.dim_customers", as_of=as_of
        )


@dg.asset_check(asset="send_audience", blocking=True)
def send_audience_is_consented_and_valid(duckdb: DuckDBResource) -> dg.AssetCheckResult:
    """Everyone the sends would reach has consent and a well-formed email, once."""
    with duckdb.get_connection() as conn:
        return _validate_table(
            conn,
            "send_audience",
            "select person_id, email, has_marketing_consent from email.send_audience",
        )


@dg.asset_check(asset="customer_scores", blocking=True)
def customer_scores_are_probabilities(duckdb: DuckDBResource) -> dg.AssetCheckResult:
    """One score per person, each within [0, 1]."""
    with duckdb.get_connection() as conn:
        return _validate_table(
            conn,
            "customer_scores",
            """
            select *,
                purchase_propensity is not null
                    or purchase_propensity_missing_reason is not null as is_scored_or_explained
            from ml.customer_scores
            """,
        )


SEGMENT_SIZES_SQL = """
    with people as (select count(*) as n from marts.dim_customers),
    sizes as (select segment_name, count(*) as members from marts.customer_segments group by 1)
    select s.segment_name, s.owner, s.min_size,
        cast(floor(s.max_share * people.n) as bigint) as max_members,
        coalesce(sizes.members, 0) as members
    from intermediate.int_segments_loaded as s
    cross join people
    left join sizes on s.segment_name = sizes.segment_name
    order by s.segment_name
"""


@dg.asset_check(asset="customer_segments")
def segment_sizes_are_within_bounds(duckdb: DuckDBResource) -> dg.AssetCheckResult:
    """GX: every segment has at least its min_size members and at most its max_share."""
    with duckdb.get_connection() as conn:
        sizes = conn.execute(SEGMENT_SIZES_SQL).df()
    outcome = quality.validate(
        settings.gx_context_dir(),
        "segment_sizes",
        quality.segment_size_frame(sizes),
        expectations=quality.segment_size_expectations(sizes),
    )
    small = sizes[sizes["members"] < sizes["min_size"]]
    large = sizes[sizes["members"] > sizes["max_members"]]
    return gx_check_result(
        outcome,
        extra={
            "segments_below_minimum_size": small["segment_name"].tolist(),
            "segments_above_maximum_share": large["segment_name"].tolist(),
            "sizes": dg.MetadataValue.md(sizes.to_markdown(index=False)),
        },
    )


# The raw table that carries each source's freshness check in the UI.
FRESHNESS_TABLES = {
    "crm": "crm_customers",
    "web": "web_events",
    "shop": "shop_orders",
    "esp": "esp_email_events",
}


def measure_freshness(conn) -> freshness.Freshness:
    """Every source's lag, against what this run is judged by (see settings.freshness_mode)."""
    return freshness.measure(
        conn,
        settings.landing_dir(),
        settings.freshness_mode(),
        settings.freshness_limits(),
        as_of=settings.as_of_override(),
    )


def freshness_metadata(measured: freshness.Freshness) -> dict:
    return {
        "judged_against": measured.judged_against(),
        "sources": dg.MetadataValue.json(
            {name: lag.as_metadata() for name, lag in measured.sources.items()}
        ),
    }


@dg.multi_asset_check(
    specs=[
        dg.AssetCheckSpec(
            "is_fresh",
            asset=dg.AssetKey(["raw", table]),
            description=f"The {freshness.SOURCE_NAMES[source]} are within their limit"
            f" (MAILPIPE_FRESHNESS_{source.upper()}_HOURS); sends that need them wait while"
            " they are not.",
        )
        for source, table in FRESHNESS_TABLES.items()
    ],
)
def sources_are_fresh(duckdb: DuckDBResource):
    """How late each source is (newest event, newest file), after every raw table has loaded."""
    with duckdb.get_connection() as conn:
        measured = measure_freshness(conn)
    for source, lag in measured.sources.items():
        yield dg.AssetCheckResult(
            asset_key=dg.AssetKey(["raw", FRESHNESS_TABLES[source]]),
            check_name="is_fresh",
            passed=not lag.is_stale,
            severity=dg.AssetCheckSeverity.ERROR,
            description=lag.describe(),
            metadata={**lag.as_metadata(), "judged_against": measured.judged_against()},
        )
