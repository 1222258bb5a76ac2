"""Person ids stay put: new records never renumber people they do not touch, and when two
people turn out to be one the older id survives and the other is recorded as merged."""

import csv
from pathlib import Path

import duckdb

from orchestration import settings
from orchestration.ingest.landing import LANDING_TABLES
from orchestration.ingest.loader import load_table
from tests.conftest import run_dbt
from tests.orchestration.landing_files import ORDER_COLUMNS, customers

SELECT = ("+identity_links", "+identity_merges", "+fct_orders")


def _orders(landing: Path, batch: int, rows: list[dict]) -> None:
    path = landing / "shop" / f"orders_{batch}.csv"
    path.parent.mkdir(parents=True, exist_ok=True)
    with path.open("w", newline="", encoding="utf-8") as fh:
        writer = csv.DictWriter(fh, ORDER_COLUMNS)
        writer.writeheader()
        for row in rows:
            writer.writerow(
                {"ordered_at": "2026-06-01T10:00:00Z", "total_amount": "20.00", "currency": "EUR"}
                | row
            )


def _build(tmp_path: Path) -> dict[str, str]:
    warehouse = settings.warehouse_path()
    with duckdb.connect(str(warehouse)) as conn:
        for table in LANDING_TABLES:
            load_table(conn, table, settings.landing_dir())
    done = run_dbt(
        "build",
        "--select",
        *SELECT,
        "--indirect-selection",
        "cautious",
        dbt_vars=settings.dbt_vars(),
        target=tmp_path / "dbt_target",
    )
    assert done.returncode == 0, done.stdout[-3000:]
    with duckdb.connect(str(warehouse), read_only=True) as conn:
        return dict(
            conn.execute("select record_key, person_id from marts.identity_links").fetchall()
        )


def _merges() -> list[tuple]:
    with duckdb.connect(str(settings.warehouse_path()), read_only=True) as conn:
        return conn.execute(
            "select merged_person_id, surviving_person_id, records_moved from marts.identity_merges"
        ).fetchall()


def test_new_records_keep_untouched_ids_and_merges_keep_the_older_id(data_dir, tmp_path):
    landing = settings.landing_dir()
    people = customers(landing, 6)
    _orders(landing, 1, [{"order_id": "O1", "email": "guest@example.com"}])
    first = _build(tmp_path)

    # A new guest buyer: nobody else is touched.
    _orders(landing, 2, [{"order_id": "O2", "email": "late@example.com"}])
    second = _build(tmp_path)
    assert {k: second[k] for k in first} == first
    late = second["shop_orders:O2"]
    assert late not in first.values()
    assert _merges() == []

    # C0003 (first build) orders with the late guest's address: one person, the older id.
    older = first[f"crm_customers:{people[3]['customer_id']}"]
    _orders(landing, 3, [{"order_id": "O3", "customer_id": "C0003", "email": "late@example.com"}])
    third = _build(tmp_path)
    assert third["shop_orders:O2"] == third["shop_orders:O3"] == older
    untouched = {k: v for k, v in second.items() if v not in (older, late)}
    assert {k: third[k] for k in untouched} == untouched
    assert _merges() == [(late, older, 1)]
    with duckdb.connect(str(settings.warehouse_path()), read_only=True) as conn:
        buyer = conn.execute(
            "select person_id from marts.fct_orders where order_id = 'O2'"
        ).fetchone()
    assert buyer == (older,), "facts follow the merge"
