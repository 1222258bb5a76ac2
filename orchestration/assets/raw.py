"""Raw landing tables: one asset per table of the landing contract."""

import dagster as dg
from dagster_duckdb import DuckDBResource

from orchestration.lib import settings
from orchestration.lib.landing import LANDING_TABLES, LandingTable
from orchestration.lib.loader import load_table


def _raw_asset(table: LandingTable) -> dg.AssetsDefinition:
    @dg.asset(
        key=["raw", table.name],
        group_name="raw",
        description=f"{table.description} Loaded from {table.source}/{table.pattern}.",
        kinds={"duckdb"},
    )
    def _load(context: dg.AssetExecutionContext, duckdb: DuckDBResource) -> dg.MaterializeResult:
        with duckdb.get_connection() as conn:
            result = load_table(conn, table, settings.landing_dir())
            total_rows = conn.execute(f"select count(*) from raw.{table.name}").fetchone()[0]
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
        for f in result.failed:
            context.log.error(f.error)
        if result.failed:
            raise dg.Failure(
                description="; ".join(f.error for f in result.failed),
                metadata={**metadata, "failed_files": [f.file for f in result.failed]},
            )
        return dg.MaterializeResult(metadata=metadata)

    return _load


raw_assets = [_raw_asset(table) for table in LANDING_TABLES]
