"""Jobs and schedules."""

import dagster as dg

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

daily_pipeline_schedule = dg.ScheduleDefinition(
    job=daily_pipeline,
    cron_schedule="0 5 * * *",
    execution_timezone="UTC",
    default_status=dg.DefaultScheduleStatus.STOPPED,
)
