"""Sensors: react to files landing."""

import hashlib
import json

import dagster as dg

from orchestration import settings
from orchestration.ingest.loader import landing_fingerprints
from orchestration.jobs import erasure_requests, hourly_events, load_landing_files


@dg.sensor(
    job=load_landing_files,
    minimum_interval_seconds=60,
    default_status=dg.DefaultSensorStatus.STOPPED,
)
def new_landing_files(context: dg.SensorEvaluationContext):
    """Loads the raw tables whose landing folders have new or replaced files."""
    seen = json.loads(context.cursor) if context.cursor else {}
    current = landing_fingerprints(settings.landing_dir())
    changed = {
        table: sorted(
            name for name, stamp in files.items() if seen.get(table, {}).get(name) != stamp
        )
        for table, files in current.items()
    }
    changed = {table: names for table, names in changed.items() if names}
    if not changed:
        return dg.SkipReason("no new landing files")
    run_key = hashlib.sha256(json.dumps(changed, sort_keys=True).encode()).hexdigest()[:16]
    context.update_cursor(json.dumps(current, sort_keys=True))
    return dg.RunRequest(
        run_key=run_key,
        asset_selection=[dg.AssetKey(["raw", table]) for table in sorted(changed)],
        tags={"mailpipe/new_files": str(sum(len(n) for n in changed.values()))},
    )


@dg.sensor(
    job=erasure_requests,
    minimum_interval_seconds=60,
    default_status=dg.DefaultSensorStatus.STOPPED,
)
def erasure_request_files(context: dg.SensorEvaluationContext):
    """Runs the erasure job when request files appear in the erasure folder."""
    folder = settings.erasure_requests_dir()
    files = sorted(p.name for p in folder.glob("*.txt")) if folder.exists() else []
    if not files:
        return dg.SkipReason("no erasure requests")
    run_key = hashlib.sha256(json.dumps(files).encode()).hexdigest()[:16]
    return dg.RunRequest(run_key=run_key, tags={"mailpipe/erasure_request_files": str(len(files))})


@dg.sensor(
    job=hourly_events,
    minimum_interval_seconds=120,
    default_status=dg.DefaultSensorStatus.STOPPED,
)
def journey_triggers(context: dg.SensorEvaluationContext):
    """Runs the journeys within minutes of new web, shop or email events landing."""
    current = {
        table: files
        for table, files in landing_fingerprints(settings.landing_dir()).items()
        if table in ("web_events", "shop_orders", "shop_order_items", "esp_email_events")
    }
    if context.cursor and json.loads(context.cursor) == current:
        return dg.SkipReason("no new events")
    context.update_cursor(json.dumps(current, sort_keys=True))
    run_key = hashlib.sha256(json.dumps(current, sort_keys=True).encode()).hexdigest()[:16]
    return dg.RunRequest(run_key=run_key)
