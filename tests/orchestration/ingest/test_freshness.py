import os
from datetime import datetime, timedelta

import duckdb
import pytest

from orchestration.ingest import freshness

NOW = datetime(2026, 12, 2, 12, 0)
LIMITS = {"crm": 48.0, "web": 2.0, "shop": 24.0, "esp": 24.0}


def _land(landing, source: str, name: str, arrived: datetime) -> None:
    path = landing / source / name
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text("x\n")
    os.utime(path, (arrived.timestamp(), arrived.timestamp()))


@pytest.fixture
def warehouse(tmp_path):
    """Raw tables whose newest web event is 3 days old; every other source is current."""
    conn = duckdb.connect()
    conn.execute("create schema raw")
    conn.execute("create table raw.web_events (occurred_at timestamp)")
    conn.execute("create table raw.shop_orders (ordered_at timestamp)")
    conn.execute("create table raw.esp_email_events (occurred_at timestamp)")
    conn.execute(
        "create table raw.crm_customers (signup_at timestamp, consent_updated_at timestamp)"
    )
    conn.execute("insert into raw.web_events values (?)", [NOW - timedelta(days=3)])
    conn.execute("insert into raw.shop_orders values (?)", [NOW - timedelta(hours=1)])
    conn.execute("insert into raw.esp_email_events values (?)", [NOW - timedelta(days=9)])
    conn.execute("insert into raw.crm_customers values (?, ?)", [NOW - timedelta(days=20), None])
    landing = tmp_path / "landing"
    for source, name in [
        ("web", "events_2026-11.jsonl"),
        ("shop", "orders_2026-12.csv"),
        ("esp", "email_events_2026-11.csv"),
        ("crm", "customers_2026-12-02.csv"),
    ]:
        _land(landing, source, name, NOW - timedelta(minutes=30))
    return conn, landing


def test_a_source_whose_newest_event_is_days_old_is_late_against_the_clock(warehouse):
    conn, landing = warehouse
    measured = freshness.measure(conn, landing, "clock", LIMITS, now=NOW)
    assert [lag.source for lag in measured.stale({"crm", "web", "shop", "esp"})] == ["web"]
    web = measured.sources["web"]
    assert web.lag_hours == pytest.approx(72.0)
    assert web.describe() == "web events 3.0 days old, late (limit 2.0 hours)"
    assert "clock (2026-12-02 12:00 UTC)" in measured.judged_against()


def test_a_quiet_email_service_or_crm_is_judged_by_its_files_arriving(warehouse):
    conn, landing = warehouse
    measured = freshness.measure(conn, landing, "clock", LIMITS, now=NOW)
    assert not measured.sources["esp"].is_stale and not measured.sources["crm"].is_stale


def test_a_crm_export_that_stopped_arriving_is_late(warehouse):
    conn, landing = warehouse
    _land(landing, "crm", "customers_2026-12-02.csv", NOW - timedelta(days=3))
    measured = freshness.measure(conn, landing, "clock", LIMITS, now=NOW)
    assert measured.sources["crm"].is_stale
    assert measured.sources["crm"].lag_hours == pytest.approx(72.0)


def test_a_rerun_as_of_three_days_back_finds_every_source_current(warehouse):
    conn, landing = warehouse
    _land(landing, "crm", "customers_2026-12-02.csv", NOW - timedelta(days=3))
    as_of = NOW - timedelta(days=3)
    measured = freshness.measure(conn, landing, "as_of", LIMITS, as_of=as_of, now=NOW)
    assert measured.stale({"crm", "web", "shop", "esp"}) == []
    # Only the web tracker is judged on its events; the shop's feed only on arriving.
    assert measured.sources["shop"].newest_event_at is None
    assert measured.sources["shop"].lag_hours is None
    assert "pinned as-of" in measured.judged_against()


def test_latest_judges_each_source_against_the_newest_event_in_the_data(warehouse):
    conn, landing = warehouse
    measured = freshness.measure(conn, landing, "latest", LIMITS, now=NOW)
    assert measured.reference_at == NOW - timedelta(hours=1)
    assert measured.sources["web"].is_stale and not measured.sources["shop"].is_stale
    assert measured.sources["web"].lag_hours == pytest.approx(71.0)


def test_a_source_with_no_files_and_no_rows_is_absent_not_late(tmp_path):
    conn = duckdb.connect()
    measured = freshness.measure(conn, tmp_path, "clock", LIMITS, now=NOW)
    assert all(lag.is_absent and not lag.is_stale for lag in measured.sources.values())
    assert measured.sources["web"].describe() == "web events: no data"
