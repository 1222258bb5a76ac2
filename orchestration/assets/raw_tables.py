"""Raw landing tables: one asset per table of the landing contract."""

import dagster as dg
from dagster_duckdb import DuckDBResource

from orchestration import quality, settings
from orchestration.checks import gx_check_result
from orchestration.ingest import anomalies
from orchestration.ingest.landing import LANDING_TABLES, LandingTable
from orchestration.ingest.loader import load_table


def _raw_asset(table: LandingTable) -> dg.AssetsDefinition:
    key = dg.AssetKey(["raw", table.name])

    @dg.asset(
        key=key,
        group_name="raw",
        description=f"{table.description} Loaded from {table.source}/{table.pattern}.",
        kinds={"duckdb"},
        check_specs=[
            dg.AssetCheckSpec(
                "has_no_load_anomalies", asset=key, description="No volume drop or null-rate spike."
            ),
            dg.AssetCheckSpec(
                "newest_load_meets_contract",
                asset=key,
                blocking=True,
                description="GX: the newest rows have their required fields, known values and unique keys.",
            ),
        ],
    )
    def _load(context: dg.AssetExecutionContext, duckdb: DuckDBResource):
        with duckdb.get_connection() as conn:
            conn.execute(f"set memory_limit = '{settings.load_memory_limit()}'")
            result = load_table(conn, table, settings.landing_dir())
            total_rows = conn.execute(f"select count(*) from raw.{table.name}").fetchall()[0][0]
            loaded_at = result.loaded_at
            files = len(result.files) - len(result.failed)
            found = anomalies.detect(conn, anomalies.profile_load(conn, table, loaded_at, files))
            newest, rows_in_newest_load = quality.raw_contract_frame(conn, table, loaded_at)
        reasons: dict[str, int] = {}
        for f in result.files:
            for reason, n in f.reasons.items():
                reasons[reason] = reasons.get(reason, 0) + n
        metadata = {
            "dagster/row_count": total_rows,
            "files_loaded": len(result.files) - len(result.failed),
            "files_skipped_as_already_loaded": len(result.skipped_files),
            "rows_received": result.total("rows_received"),
            "rows_loaded": result.total("rows_loaded"),
            "rows_quarantined": result.total("rows_quarantined"),
            "quarantine_reasons": dg.MetadataValue.json(reasons),
            "unexpected_columns": sorted({c for f in result.files for c in f.unexpected_columns}),
        }
        if found.current is not None:
            metadata["rows_per_file"] = round(found.current.rows_per_file, 1)
            metadata["null_rates"] = dg.MetadataValue.json(
                {k: round(v, 4) for k, v in found.current.null_rates.items()}
            )
        if found.baseline_rows_per_file is not None:
            metadata["baseline_rows_per_file"] = round(found.baseline_rows_per_file, 1)
        metadata["anomalies"] = found.flags
        for flag in found.flags:
            context.log.warning(f"raw.{table.name}: {flag}")
        for f in result.failed:
            context.log.error(f.error)
        if result.failed:
            raise dg.Failure(
                description="; ".join(f.error for f in result.failed),
                metadata={**metadata, "failed_files": [f.file for f in result.failed]},
            )
        contract = quality.validate(
            settings.gx_context_dir(), quality.raw_suite_name(table), newest, table=table
        )
        yield dg.MaterializeResult(metadata=metadata)
        yield dg.AssetCheckResult(
            check_name="has_no_load_anomalies",
            passed=not found.flags,
            severity=dg.AssetCheckSeverity.WARN,
            metadata={
                "anomalies": found.flags,
                "rows_in_newest_load": found.current.rows if found.current else 0,
            },
        )
        yield gx_check_result(
            contract,
            check_name="newest_load_meets_contract",
            extra={
                "rows_in_newest_load": rows_in_newest_load,
                "rows_validated": len(newest),
                "how": "every row that breaks the contract, found in SQL, plus a sample of"
                f" {quality.CONTRACT_SAMPLE_ROWS:,} rows that keep it",
            },
        )

    return _load


raw_assets = [_raw_asset(table) for table in LANDING_TABLES]
