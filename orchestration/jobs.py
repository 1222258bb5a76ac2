"""Jobs and schedules."""

import dagster as dg

daily_pipeline = dg.define_asset_job(
    "daily_pipeline",
    selection=dg.AssetSelection.all(),
    description="Load new landing files, rebuild the models and scores, export the day's sends.",
)

daily_pipeline_schedule = dg.ScheduleDefinition(
    job=daily_pipeline,
    cron_schedule="0 5 * * *",
    execution_timezone="UTC",
    default_status=dg.DefaultScheduleStatus.STOPPED,
)
