"""The Dagster code location of the pipeline (loaded by workspace.yaml)."""

import warnings

import dagster as dg
from dagster_dbt import DbtCliResource
from dagster_duckdb import DuckDBResource

from orchestration import checks, jobs, sensors, settings
from orchestration.assets import customer_models, email_sends, raw_tables, reports
from orchestration.assets.dbt_models import dbt_models, dbt_project
from orchestration.resources import MlflowTracking


def build_definitions() -> dg.Definitions:
    settings.disable_telemetry()
    # Dagster passes its own beta parameters internally (`owners` to every sensor it
    # rebuilds, `include_sources` when it parses a selection) and warns of them on each run;
    # they say nothing a user of this project can act on.
    warnings.filterwarnings("ignore", message="Parameter `", category=dg.BetaWarning)
    settings.configure_dbt_selection()
    return dg.Definitions(
        assets=[
            *raw_tables.raw_assets,
            dbt_models,
            *dg.load_assets_from_modules([customer_models, email_sends, reports]),
        ],
        asset_checks=dg.load_asset_checks_from_modules([checks]),
        jobs=jobs.JOBS,
        schedules=jobs.SCHEDULES,
        sensors=[
            sensors.new_landing_files,
            sensors.journey_triggers,
            sensors.erasure_request_files,
        ],
        resources={
            "duckdb": DuckDBResource(
                database=str(settings.warehouse_path()),
                connection_config={"memory_limit": settings.duckdb_memory_limit()},
            ),
            "dbt": DbtCliResource(
                project_dir=dbt_project,
                profiles_dir=str(settings.dbt_project_dir()),
                dbt_executable=settings.dbt_executable(),
            ),
            "mlflow_tracking": MlflowTracking(
                tracking_uri=settings.mlflow_tracking_uri(),
                artifacts_dir=str(settings.mlflow_artifacts_dir()),
            ),
        },
        # One step at a time: DuckDB allows a single writing process, and dbt is another process.
        executor=dg.in_process_executor,
    )


defs = build_definitions()
