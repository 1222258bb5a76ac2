"""Jobs and schedules: the pipeline, and the privacy housekeeping."""

import dagster as dg
from dagster_duckdb import DuckDBResource

from orchestration import settings, warehouse
from orchestration.privacy import erasure, retention

daily_pipeline = dg.define_asset_job(
    "daily_pipeline",
    selection=dg.AssetSelection.all(),
    description="Load new landing files, rebuild the models and scores, export the day's sends.",
)

load_landing_files = dg.define_asset_job(
    "load_landing_files",
    selection=dg.AssetSelection.groups("raw"),
    description="Load new landing files into the raw tables.",
)

hourly_events = dg.define_asset_job(
    "hourly_events",
    # Everything journeys react to, but not the models: scores stay from the daily run.
    selection=dg.AssetSelection.assets("journey_sends").upstream() - dg.AssetSelection.groups("ml"),
    description="Load new events, refresh the customer view and send the journey steps due.",
)

hourly_events_schedule = dg.ScheduleDefinition(
    job=hourly_events,
    cron_schedule="15 * * * *",
    execution_timezone="UTC",
    default_status=dg.DefaultScheduleStatus.STOPPED,
)

daily_pipeline_schedule = dg.ScheduleDefinition(
    job=daily_pipeline,
    cron_schedule="0 5 * * *",
    execution_timezone="UTC",
    default_status=dg.DefaultScheduleStatus.STOPPED,
)


@dg.op(description="Erase everyone named in the erasure request files, then delete the files.")
def erase_requested_people(context: dg.OpExecutionContext, duckdb: DuckDBResource) -> int:
    # Requests arrive as files rather than run config, so no email lands in Dagster's storage.
    folder = settings.erasure_requests_dir()
    requests = sorted(folder.glob("*.txt")) if folder.exists() else []
    erased = 0
    with duckdb.get_connection() as conn:
        for request in requests:
            for line in request.read_text(encoding="utf-8").splitlines():
                if line.strip():
                    report = erasure.forget(
                        conn, line, settings.exports_dir(), landing_dir=settings.landing_dir()
                    )
                    context.log.info(report.summary())
                    erased += report.people_erased
            request.unlink()
    context.add_output_metadata({"request_files": len(requests), "people_erased": erased})
    return erased


@dg.job(description="Right to erasure: process the request files in the erasure folder.")
def erasure_requests():
    erase_requested_people()


@dg.op(description="Delete raw and modeled events older than the retention period.")
def purge_expired_events(context: dg.OpExecutionContext, duckdb: DuckDBResource) -> int:
    days = settings.retention_days()
    with duckdb.get_connection() as conn:
        removed = retention.purge_expired(conn, warehouse.as_of(conn), days)
    context.add_output_metadata(
        {"retention_days": days, **{table: n for table, n in removed.items()}}
    )
    return sum(removed.values())


@dg.job(description="Retention: purge events older than MAILPIPE_RETENTION_DAYS, logged.")
def event_retention():
    purge_expired_events()


event_retention_schedule = dg.ScheduleDefinition(
    job=event_retention,
    cron_schedule="0 4 * * *",
    execution_timezone="UTC",
    default_status=dg.DefaultScheduleStatus.STOPPED,
)

JOBS = [daily_pipeline, hourly_events, load_landing_files, erasure_requests, event_retention]
SCHEDULES = [daily_pipeline_schedule, hourly_events_schedule, event_retention_schedule]
