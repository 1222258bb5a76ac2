"""`dbt source freshness` judges the sources with the pipeline's limits, for analytics
engineers who run dbt on its own."""

import json
from datetime import UTC, datetime, timedelta

import duckdb

from orchestration import settings
from orchestration.ingest.landing import LANDING_TABLES
from orchestration.ingest.loader import load_table
from tests.conftest import run_dbt
from tests.orchestration import landing_files as lf


def test_dbt_source_freshness_errors_on_a_web_tracker_past_its_limit(
    data_dir, tmp_path, monkeypatch
):
    now = datetime.now(UTC).replace(tzinfo=None)
    landing = settings.landing_dir()
    people = lf.customers(landing, 2)
    lf.web_events(
        landing,
        [
            {
                "event_type": "page_view",
                "anonymous_id": f"a{i}",
                "customer_id": p["customer_id"],
                "session_id": f"s{i}",
                "occurred_at": now - timedelta(hours=5),
            }
            for i, p in enumerate(people)
        ],
    )
    with duckdb.connect(str(settings.warehouse_path())) as conn:
        for table in LANDING_TABLES:
            load_table(conn, table, landing)
    target = tmp_path / "target"
    selection = ["--select", "source:raw.web_events", "source:raw.crm_customers"]
    late = run_dbt("source", "freshness", *selection, target=target)
    assert late.returncode == 1, late.stdout
    results = {
        r["unique_id"].rsplit(".", 1)[-1]: r["status"]
        for r in json.loads((target / "sources.json").read_text())["results"]
    }
    assert results == {"web_events": "error", "crm_customers": "pass"}
    monkeypatch.setenv("MAILPIPE_FRESHNESS_WEB_HOURS", "6")
    relaxed = run_dbt("source", "freshness", *selection, target=target)
    assert relaxed.returncode == 0, relaxed.stdout
