"""Great Expectations suites, defined in code and saved to the file context in
great_expectations/, and run on DataFrames read from DuckDB (GX's SQL datasource does not
work on DuckDB). A failed critical expectation fails its blocking check and stops the
sends; a failed warning is reported and lets them go."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from urllib.parse import unquote, urlparse

import duckdb
import pandas as pd

from orchestration import data_docs, settings
from orchestration.ingest.landing import EMAIL_PATTERN

CRITICAL = "critical"
WARNING = "warning"
# Suites of tables that can rightly be empty: nobody has consent, so nobody is mailed.
MAY_BE_EMPTY = {"send_audience"}


def raw_suite_name(table) -> str:
    return f"raw_{table.name}"


def raw_suite_columns(table) -> list[str]:
    """The columns the raw suite's expectations name: reading only these keeps a large load's
    check in proportion to what it checks, and they follow the suite when it changes."""
    named = set()
    for expectation in _raw_expectations(table):
        named.update(getattr(expectation, "column_list", None) or [expectation.column])
    return [c.name for c in table.columns if c.name in named]


CONTRACT_SAMPLE_ROWS = 100_000


def raw_contract_frame(conn, table, loaded_at, sample_rows: int = CONTRACT_SAMPLE_ROWS):
    """The newest load's rows the raw suite must see, and the number of rows in that load.

    Every row that breaks the contract (a required field missing, a value outside its set, a
    key that is not unique) is in the frame, found by SQL over the whole load, plus a fixed
    sample of the rows that keep it (the same rows every time). The suite therefore fails
    exactly when the whole load would fail it, with the same unexpected counts, while memory
    stays in proportion to the sample: 29M web events in a DataFrame took 13 GB."""
    columns = ", ".join(raw_suite_columns(table))
    breaks = [f"{c.name} is null" for c in table.columns if c.required]
    for column in table.columns:
        if column.allowed:
            values = ", ".join("'" + v.replace("'", "''") + "'" for v in column.allowed)
            breaks.append(f"({column.name} is not null and {column.name} not in ({values}))")
    keys = ", ".join(table.key)
    duplicate_join = ""
    if table.key:
        duplicate_join = (
            f"left join (select {keys}, true as _is_duplicate from newest group by all"
            f" having count(*) > 1) as duplicates using ({keys})"
        )
        breaks.append("coalesce(duplicates._is_duplicate, false)")
    condition = " or ".join(breaks) or "false"
    sql = f"""
        with newest as (select {columns} from raw.{table.name} where _loaded_at = ?),
        flagged as (
            select newest.*, coalesce({condition}, false) as _breaks_contract
            from newest {duplicate_join}
        ),
        kept as (select * exclude (_breaks_contract) from flagged where not _breaks_contract),
        -- Ranked by a hash of the row, so the sample is the same rows whatever the threads.
        sample as (select * from kept order by hash({columns}), {columns} limit {int(sample_rows)}),
        checked as (
            select * exclude (_breaks_contract) from flagged where _breaks_contract
            union all
            select * from sample
        )
        select * from checked order by hash({columns}), {columns}
    """
    frame = conn.execute(sql, [loaded_at]).df()
    rows = conn.execute(
        f"select count(*) from raw.{table.name} where _loaded_at = ?", [loaded_at]
    ).fetchall()[0][0]
    return frame, rows


def _raw_expectations(table):
    """The landing contract as expectations: the loader enforces it, GX proves it held."""
    import great_expectations as gx

    e = gx.expectations
    out = []
    for column in table.columns:
        if column.required:
            out.append(e.ExpectColumnValuesToNotBeNull(column=column.name, severity=CRITICAL))
        if column.allowed:
            out.append(
                e.ExpectColumnValuesToBeInSet(
                    column=column.name, value_set=list(column.allowed), severity=CRITICAL
                )
            )
    if len(table.key) == 1:
        out.append(e.ExpectColumnValuesToBeUnique(column=table.key[0], severity=CRITICAL))
    elif table.key:
        out.append(
            e.ExpectCompoundColumnsToBeUnique(column_list=list(table.key), severity=CRITICAL)
        )
    return out


def _row_count_expectations(previous_rows: int | None, may_be_empty: bool = False):
    """Against the previous run: a drop under 90% warns, under 50% stops the sends. Without
    one, the table must not be empty, unless emptiness is a legitimate answer (an audience
    in which nobody may be mailed)."""
    import great_expectations as gx

    e = gx.expectations
    if not previous_rows:
        severity = WARNING if may_be_empty else CRITICAL
        return [e.ExpectTableRowCountToBeBetween(min_value=1, severity=severity)]
    return [
        e.ExpectTableRowCountToBeBetween(min_value=int(previous_rows * 0.5), severity=CRITICAL),
        e.ExpectTableRowCountToBeBetween(min_value=int(previous_rows * 0.9), severity=WARNING),
    ]


def segment_size_frame(sizes: pd.DataFrame) -> pd.DataFrame:
    """One column per segment holding its member count, so that a failed expectation names
    the segment that is out of bounds (a row-wise check would say only "unexpected: 210")."""
    return pd.DataFrame([dict(zip(sizes["segment_name"], sizes["members"], strict=True))])


def segment_size_expectations(sizes: pd.DataFrame):
    """Each segment between its min_size and its max_share of everyone. Out of bounds is
    worth a look, not a reason to stop the sends."""
    import great_expectations as gx

    return [
        gx.expectations.ExpectColumnValuesToBeBetween(
            column=row.segment_name,
            min_value=int(row.min_size),
            max_value=int(row.max_members),
            severity=WARNING,
            notes=f"Segment {row.segment_name} (owner {row.owner}): at least {row.min_size}"
            f" members, at most {row.max_members}.",
        )
        for row in sizes.itertuples()
    ]


# Counts only: GX would otherwise list up to 20 unexpected values in the result and on the
# Data Docs page, and those are emails, names and ids.
RESULT_FORMAT = {
    "result_format": "BASIC",
    "partial_unexpected_count": 0,
    "include_unexpected_rows": False,
}


def _suites(as_of=None):
    import great_expectations as gx

    e = gx.expectations
    freshness = []
    if as_of is not None:
        # The web tracker should have sent events up to the as-of date.
        freshness.append(
            e.ExpectColumnMaxToBeBetween(
                column="last_seen_at",
                min_value=(as_of - pd.Timedelta(days=2)).isoformat(),
                severity=WARNING,
            )
        )
    return {
        "dim_customers": [
            e.ExpectColumnValuesToBeUnique(column="person_id", severity=CRITICAL),
            e.ExpectColumnValuesToNotBeNull(column="person_id", severity=CRITICAL),
            e.ExpectColumnValuesToNotBeNull(column="is_marketable", severity=CRITICAL),
            e.ExpectColumnValuesToBeBetween(column="order_count", min_value=0, severity=CRITICAL),
            # Net revenue: refunds larger than purchases are unusual, not a reason to stop.
            e.ExpectColumnValuesToBeBetween(
                column="total_revenue_eur", min_value=0, severity=WARNING
            ),
            # Anonymous visitors are profiles too, without email or name: warn only on a collapse.
            e.ExpectColumnValuesToNotBeNull(column="email", mostly=0.5, severity=WARNING),
            e.ExpectColumnValuesToNotBeNull(column="first_name", mostly=0.3, severity=WARNING),
            *freshness,
        ],
        "send_audience": [
            e.ExpectColumnValuesToBeUnique(column="person_id", severity=CRITICAL),
            e.ExpectColumnValuesToMatchRegex(
                column="email", regex=EMAIL_PATTERN, severity=CRITICAL
            ),
            e.ExpectColumnValuesToBeInSet(
                column="has_marketing_consent", value_set=[True], severity=CRITICAL
            ),
        ],
        "customer_scores": [
            e.ExpectColumnValuesToBeUnique(column="person_id", severity=CRITICAL),
            # A score may be missing when its model could not be trained, never silently.
            e.ExpectColumnValuesToBeInSet(
                column="is_scored_or_explained", value_set=[True], severity=CRITICAL
            ),
            e.ExpectColumnValuesToBeBetween(
                column="purchase_propensity", min_value=0, max_value=1, severity=CRITICAL
            ),
            e.ExpectColumnValuesToBeBetween(
                column="churn_probability", min_value=0, max_value=1, severity=CRITICAL
            ),
            e.ExpectColumnValuesToBeBetween(
                column="probability_alive", min_value=0, max_value=1, severity=CRITICAL
            ),
            e.ExpectColumnValuesToBeBetween(column="clv_eur", min_value=0, severity=CRITICAL),
            # A difference of two probabilities.
            e.ExpectColumnValuesToBeBetween(
                column="uplift_7d", min_value=-1, max_value=1, severity=CRITICAL
            ),
            e.ExpectColumnValuesToNotBeNull(column="persona", severity=WARNING),
        ],
    }


@dataclass
class Failure:
    expectation: str
    column: str | None
    severity: str
    observed: str


@dataclass
class ValidationOutcome:
    suite: str
    evaluated: int
    failures: list[Failure] = field(default_factory=list)
    docs_path: Path | None = None

    @property
    def critical_failures(self) -> list[Failure]:
        return [f for f in self.failures if f.severity == CRITICAL]

    @property
    def passed(self) -> bool:
        return not self.critical_failures


def _context(context_dir: Path):
    settings.disable_telemetry()
    from great_expectations.data_context.types.base import ProgressBarsConfig

    import great_expectations as gx

    context = gx.get_context(mode="file", context_root_dir=str(context_dir))
    context.variables.progress_bars = ProgressBarsConfig(globally=False)
    if not context.list_data_docs_sites():
        context.add_data_docs_site(
            "local_site",
            {
                "class_name": "SiteBuilder",
                "show_how_to_buttons": False,
                "store_backend": {
                    "class_name": "TupleFilesystemStoreBackend",
                    "base_directory": "uncommitted/data_docs/local_site/",
                },
                "site_index_builder": {"class_name": "DefaultSiteIndexBuilder"},
            },
        )
    return context


def validate(
    context_dir: Path,
    suite_name: str,
    frame: pd.DataFrame,
    *,
    table=None,
    expectations=None,
    as_of=None,
    previous_rows: int | None = None,
) -> ValidationOutcome:
    """Save the suite to the context, validate `frame` against it, update Data Docs.

    table: a LandingTable, for the raw suites; expectations: a suite built from the data
    (segment sizes), without volume expectations; as_of: for freshness; previous_rows: the
    row count the previous run saw, for the volume expectations."""
    import great_expectations as gx

    context = _context(context_dir)
    if table is not None:
        expectations = _raw_expectations(table)
    elif expectations is None:
        expectations = [
            *_suites(as_of)[suite_name],
            *_row_count_expectations(previous_rows, may_be_empty=suite_name in MAY_BE_EMPTY),
        ]
    suite = context.suites.add_or_update(gx.ExpectationSuite(name=suite_name))
    for expectation in expectations:
        suite.add_expectation(expectation)
    suite.save()
    # Get-or-create keeps the ids in great_expectations.yml stable from run to run.
    try:
        source = context.data_sources.get("warehouse")
    except (KeyError, ValueError):
        source = context.data_sources.add_pandas("warehouse")
    if suite_name in {a.name for a in source.assets}:
        asset = source.get_asset(suite_name)
    else:
        asset = source.add_dataframe_asset(suite_name)
    if "whole_table" in {b.name for b in asset.batch_definitions}:
        batch = asset.get_batch_definition("whole_table")
    else:
        batch = asset.add_batch_definition_whole_dataframe("whole_table")
    definition = context.validation_definitions.add_or_update(
        gx.ValidationDefinition(name=suite_name, data=batch, suite=suite)
    )
    checkpoint = context.checkpoints.add_or_update(
        gx.Checkpoint(
            name=f"{suite_name}_checkpoint",
            validation_definitions=[definition],
            actions=[gx.checkpoint.UpdateDataDocsAction(name="update_data_docs")],
            result_format=RESULT_FORMAT,
        )
    )
    result = checkpoint.run(batch_parameters={"dataframe": frame})
    outcome = ValidationOutcome(suite=suite_name, evaluated=0)
    for run_result in result.run_results.values():
        for r in run_result.results:
            outcome.evaluated += 1
            if not r.success:
                config = r.expectation_config
                observed = r.result.get("unexpected_count", r.result.get("observed_value"))
                outcome.failures.append(
                    Failure(
                        config.type,
                        config.kwargs.get("column"),
                        str(config.severity.value),
                        str(observed),
                    )
                )
    site = _site_dir(context)
    if site is not None:
        data_docs.make_offline(site)
        # The page of this validation, not the index: what a check's link should open.
        for identifier in result.run_results:
            pages = context.get_docs_sites_urls(resource_identifier=identifier)
            if pages and pages[0].get("site_url"):
                outcome.docs_path = Path(unquote(urlparse(pages[0]["site_url"]).path))
    return outcome


def _site_dir(context) -> Path | None:
    sites = context.get_docs_sites_urls()
    if not sites or not sites[0].get("site_url"):
        return None
    return Path(unquote(urlparse(sites[0]["site_url"]).path)).parent


def previous_row_count(conn: duckdb.DuckDBPyConnection, name: str) -> int | None:
    """The row count the last validation of `name` saw, then record today's."""
    conn.execute("create schema if not exists quality")
    conn.execute(
        "create table if not exists quality.row_count_history (name varchar, counted_at timestamp, row_count bigint)"
    )
    row = conn.execute(
        "select row_count from quality.row_count_history where name = ? order by counted_at desc limit 1",
        [name],
    ).fetchall()
    return row[0][0] if row else None


def record_row_count(conn: duckdb.DuckDBPyConnection, name: str, rows: int) -> None:
    conn.execute(
        "insert into quality.row_count_history values (?, current_timestamp, ?)", [name, rows]
    )
