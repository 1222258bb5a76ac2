"""The Dagster code location of the pipeline (loaded by workspace.yaml)."""

import dagster as dg
from dagster_dbt import DbtCliResource
from dagster_duckdb import DuckDBResource

from orchestration import checks
from orchestration.assets import email, ml, raw, segments
from orchestration.assets.dbt import dbt_models, dbt_project
from orchestration.jobs import (
    daily_pipeline,
    daily_pipeline_schedule,
    erasure_requests,
    event_retention,
    event_retention_schedule,
    hourly_events,
    hourly_events_schedule,
    load_landing_files,
)
from orchestration.lib import settings
from orchestration.resources import MlflowTracking
from orchestration.sensors import erasure_request_files, journey_triggers, new_landing_files


def build_definitions() -> dg.Definitions:
    settings.disable_telemetry()
    return dg.Definitions(
        assets=[*raw.raw_assets, dbt_models, *dg.load_assets_from_modules([ml, segments, email])],
        asset_checks=dg.load_asset_checks_from_modules([checks]),
        jobs=[daily_pipeline, hourly_events, load_landing_files, erasure_requests, event_retention],
        schedules=[daily_pipeline_schedule, hourly_events_schedule, event_retention_schedule],
        sensors=[new_landing_files, journey_triggers, erasure_request_files],
        resources={
            "duckdb": DuckDBResource(database=str(settings.warehouse_path())),
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
