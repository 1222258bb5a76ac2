from datetime import datetime

import duckdb

from orchestration.ingest import anomalies
from orchestration.ingest.landing import landing_table
from orchestration.ingest.loader import load_table

HEADER = "order_id,customer_id,email,ordered_at,total_amount,currency,shipping_country"


def _orders(folder, name, n, start, with_email=True):
    rows = [
        f"O{start + i},C{i},{'a@example.com' if with_email else ''},2026-01-01T10:00:00Z,10.00,EUR,DE"
        for i in range(n)
    ]
    (folder / name).write_text(HEADER + "\n" + "\n".join(rows) + "\n")


def _load(conn, landing, when):
    table = landing_table("shop_orders")
    result = load_table(conn, table, landing, now=when)
    profile = anomalies.profile_load(conn, table, result.loaded_at, len(result.files))
    return anomalies.detect(conn, profile)


def test_a_null_spike_and_a_volume_drop_are_flagged_with_their_figures(tmp_path):
    shop = tmp_path / "landing" / "shop"
    shop.mkdir(parents=True)
    with duckdb.connect(str(tmp_path / "w.duckdb")) as conn:
        _orders(shop, "orders_1.csv", 100, 0)
        first = _load(conn, tmp_path / "landing", datetime(2026, 1, 1))
        assert first.flags == []  # nothing to compare with yet

        _orders(shop, "orders_2.csv", 100, 1000)
        normal = _load(conn, tmp_path / "landing", datetime(2026, 1, 2))
        assert normal.flags == []

        _orders(shop, "orders_3.csv", 20, 2000, with_email=False)
        odd = _load(conn, tmp_path / "landing", datetime(2026, 1, 3))
    assert odd.flags == [
        "volume drop: 20 rows per file against 100 in earlier loads",
        "null-rate spike in email: 100% against 0% in earlier loads",
    ]
    assert odd.current.null_rates["email"] == 1.0
    assert odd.baseline_rows_per_file == 100
