import json

import dagster as dg

from orchestration.lib import settings
from orchestration.sensors import new_landing_files


def _tick(cursor=None):
    context = dg.build_sensor_context(cursor=cursor)
    return new_landing_files(context), context.cursor


def test_new_landing_files_start_a_load_of_just_their_tables(data_dir):
    crm = settings.landing_dir() / "crm"
    crm.mkdir(parents=True)
    (crm / "customers_1.csv").write_text("customer_id,signup_at\nC1,2026-01-01T00:00:00Z\n")

    request, cursor = _tick()
    assert isinstance(request, dg.RunRequest)
    assert request.asset_selection == [dg.AssetKey(["raw", "crm_customers"])]
    assert json.loads(cursor)["crm_customers"]

    nothing_new, cursor = _tick(cursor)
    assert isinstance(nothing_new, dg.SkipReason)

    web = settings.landing_dir() / "web"
    web.mkdir()
    (web / "events_2.jsonl").write_text("{}\n")
    request, _ = _tick(cursor)
    assert request.asset_selection == [dg.AssetKey(["raw", "web_events"])]
