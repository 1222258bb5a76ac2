import json

import dagster as dg

from orchestration import settings
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


def test_new_events_start_the_journeys_and_crm_files_do_not(data_dir):
    from orchestration.sensors import journey_triggers

    def tick(cursor=None):
        context = dg.build_sensor_context(cursor=cursor)
        return journey_triggers(context), context.cursor

    web = settings.landing_dir() / "web"
    web.mkdir(parents=True)
    (web / "events_1.jsonl").write_text("{}\n")
    request, cursor = tick()
    assert isinstance(request, dg.RunRequest)
    assert isinstance(tick(cursor)[0], dg.SkipReason)
    crm = settings.landing_dir() / "crm"
    crm.mkdir()
    (crm / "customers_1.csv").write_text("customer_id,signup_at\n")
    assert isinstance(tick(cursor)[0], dg.SkipReason)
    (web / "events_2.jsonl").write_text("{}\n")
    assert isinstance(tick(cursor)[0], dg.RunRequest)


def test_erasure_requests_start_the_erasure_job(data_dir):
    from orchestration.sensors import erasure_request_files

    folder = settings.erasure_requests_dir()
    assert isinstance(erasure_request_files(dg.build_sensor_context()), dg.SkipReason)
    folder.mkdir(parents=True)
    (folder / "ticket-1.txt").write_text("someone@example.com\n")
    assert isinstance(erasure_request_files(dg.build_sensor_context()), dg.RunRequest)
