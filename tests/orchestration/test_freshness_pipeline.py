"""A web tracker three days behind the clock holds the behavioural sends and not the newsletter;
a rerun as of three days back sends both; a stalled CRM export holds everything."""

import json
import os
import shutil
from datetime import UTC, datetime, timedelta

import dagster as dg
import pandas as pd
import pytest

from orchestration import settings
from orchestration.demo.generator import DemoParams, generate
from tests.conftest import isolate

NOW = datetime.now(UTC).replace(tzinfo=None, minute=0, second=0, microsecond=0)
STALL = NOW - timedelta(days=3)
BROWSING_CAMPAIGN = """
campaign_id: browsers-picks
name: Picks for recent browsers
template: weekly_picks
schedule: {every: day}
audience: {field: product_views_30d, gte: 1}
variants:
  - name: a
    subject: "Still looking?"
    preheader: "What you viewed, and more"
"""


def _stop_web_tracker_at(landing, moment: datetime) -> datetime:
    """Drop every web event after `moment`, as a tracker export that broke then; return when
    its last event came (600 customers browse sparsely: hours may pass between events)."""
    last = datetime.min
    for path in (landing / "web").glob("*.jsonl"):
        kept = []
        for line in path.read_text(encoding="utf-8").splitlines():
            try:
                occurred = pd.Timestamp(json.loads(line)["occurred_at"]).tz_convert(None)
            except (ValueError, KeyError):
                kept.append(line)  # a malformed line stays for the loader to quarantine
                continue
            if occurred <= moment:
                kept.append(line)
                last = max(last, occurred.to_pydatetime())
        path.write_text("".join(f"{line}\n" for line in kept), encoding="utf-8")
    return last


def _run(selection=None) -> dg.ExecuteInProcessResult:
    from orchestration.definitions import build_definitions

    job = build_definitions().resolve_implicit_global_asset_job_def()
    return job.execute_in_process(
        instance=dg.DagsterInstance.ephemeral(), asset_selection=selection, raise_on_error=False
    )


def _check(result, name, asset=None):
    return next(
        e
        for e in result.get_asset_check_evaluations()
        if e.check_name == name and (asset is None or e.asset_key == dg.AssetKey(asset))
    )


def _is_fresh(result, table):
    return _check(result, "is_fresh", ["raw", table])


def _metadata(result, asset):
    event = next(
        e for e in result.get_asset_materialization_events() if e.asset_key == dg.AssetKey(asset)
    )
    return event.materialization.metadata


@pytest.fixture(scope="module")
def stale_web(tmp_path_factory):
    root = tmp_path_factory.mktemp("freshness")
    with pytest.MonkeyPatch.context() as mp:
        isolate(mp, root)
        mp.delenv("MAILPIPE_AS_OF")  # a run for today, judged against the clock
        campaigns = root / "campaigns"
        shutil.copytree(settings.campaigns_dir(), campaigns)
        (campaigns / "browsers_picks.yaml").write_text(BROWSING_CAMPAIGN, encoding="utf-8")
        mp.setenv("MAILPIPE_CAMPAIGNS_DIR", str(campaigns))
        generate(
            settings.landing_dir(),
            settings.ground_truth_dir(),
            DemoParams(customers=600, seed=11, end=NOW.isoformat()),
        )
        stalled_at = _stop_web_tracker_at(settings.landing_dir(), STALL)
        yield {"root": root, "mp": mp, "result": _run(), "stalled_at": stalled_at}


def test_a_web_tracker_days_behind_holds_the_browsing_campaign_and_not_the_newsletter(stale_web):
    result = stale_web["result"]
    assert result.success, [e.message for e in result.all_events if e.is_failure]
    web = _is_fresh(result, "web_events")
    assert not web.passed and web.metadata["lag_hours"].value > 70
    assert web.severity == dg.AssetCheckSeverity.ERROR
    assert _is_fresh(result, "crm_customers").passed and _is_fresh(result, "shop_orders").passed
    sends = _metadata(result, "campaign_sends")
    assert "weekly-picks" in sends["campaigns_sent"].value
    assert "browsers-picks" not in sends["campaigns_sent"].value
    held = _check(result, "due_campaigns_have_fresh_sources")
    assert not held.passed and held.severity == dg.AssetCheckSeverity.ERROR
    assert "browsers-picks" in held.description and "web events 3." in held.description
    assert "weekly-picks" not in held.metadata["held"].value
    exports = stale_web["root"] / "exports"
    assert list(exports.glob("weekly-picks/*/sends.jsonl"))
    assert not list(exports.glob("browsers-picks/*/sends.jsonl"))
    journeys = _metadata(result, "journey_sends")["journeys_held_for_stale_sources"].value
    assert set(journeys) == {"cart-abandonment", "browse-abandonment"}
    assert not _check(result, "journeys_have_fresh_sources").passed


def test_a_stalled_crm_export_holds_every_send_that_reads_consent(stale_web):
    crm = next((settings.landing_dir() / "crm").glob("*.csv"))
    stalled = (NOW - timedelta(days=3)).replace(tzinfo=UTC).timestamp()
    os.utime(crm, (stalled, stalled))
    result = _run([dg.AssetKey("campaign_sends"), dg.AssetKey("journey_sends")])
    held = _check(result, "due_campaigns_have_fresh_sources").metadata["held"].value
    assert "CRM export" in held["weekly-picks"] and "CRM export" in held["browsers-picks"]
    journeys = _check(result, "journeys_have_fresh_sources").metadata["held"].value
    assert set(journeys) == {"welcome", "post-purchase", "cart-abandonment", "browse-abandonment"}
    os.utime(crm, None)


def test_a_rerun_as_of_the_stall_sends_both_and_says_what_it_was_judged_against(stale_web):
    # As of the tracker's last event: how far before the stall it came is the data's luck.
    stalled_at = stale_web["stalled_at"]
    stale_web["mp"].setenv("MAILPIPE_AS_OF", stalled_at.isoformat())
    result = _run()
    assert result.success, [e.message for e in result.all_events if e.is_failure]
    assert _is_fresh(result, "web_events").passed
    sends = _metadata(result, "campaign_sends")
    assert {"weekly-picks", "browsers-picks"} <= set(sends["campaigns_sent"].value)
    assert sends["send_date"].value == stalled_at.date().isoformat()
    held = _check(result, "due_campaigns_have_fresh_sources")
    assert held.passed
    assert held.metadata["judged_against"].value.startswith("the pinned as-of date")
