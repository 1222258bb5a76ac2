import duckdb
import pytest

from orchestration.ingest.landing import LANDING_TABLES, landing_table
from orchestration.ingest.loader import load_table
from orchestration.ingest.raw_schema import ensure_raw_schema

CRM_HEADER = (
    "customer_id,email,first_name,last_name,phone,city,country,birth_date,signup_at,"
    "loyalty_tier,marketing_consent,consent_updated_at"
)
GOOD = "C1,ann@example.com,Ann,Lee,+4915112345678,Berlin,DE,1990-01-02,2025-01-01T10:00:00Z,gold,true,2025-01-01T10:00:00Z"


@pytest.fixture
def conn(tmp_path):
    with duckdb.connect(str(tmp_path / "w.duckdb")) as c:
        yield c


def _write(tmp_path, source, name, text):
    folder = tmp_path / "landing" / source
    folder.mkdir(parents=True, exist_ok=True)
    (folder / name).write_text(text)
    return tmp_path / "landing"


def _audit(conn, table):
    return conn.execute(
        "select sum(rows_received), sum(rows_loaded), sum(rows_quarantined) from raw.load_audit where source_table = ?",
        [table],
    ).fetchone()


def test_bad_rows_are_quarantined_with_file_line_and_reason(conn, tmp_path):
    rows = [
        GOOD,
        "C2,bob@example.com,Bob,Ray,,Paris,FR,not-a-date,2025-01-01T10:00:00Z,silver,no,",
        "C3,cy@example.com,Cy,Lo,,Paris,FR,,2025-01-01T10:00:00Z,diamond,yes,",
        ",dee@example.com,Dee,Ox,,Paris,FR,,2025-01-01T10:00:00Z,gold,yes,",
        "C5,eve@example.com,Eve",
        GOOD,
        "C7,fay@example.com,Fay,Um,,Rome,IT,,2099-01-01T00:00:00Z,gold,maybe,",
    ]
    landing = _write(tmp_path, "crm", "customers_1.csv", CRM_HEADER + "\n" + "\n".join(rows) + "\n")
    load_table(conn, landing_table("crm_customers"), landing)
    quarantined = dict(
        conn.execute("select line_number, reason from raw.quarantine order by 1").fetchall()
    )
    assert quarantined[3].startswith("wrong type for birth_date (date): not-a-date")
    assert quarantined[4] == "unknown value for loyalty_tier: diamond"
    assert quarantined[5] == "missing required field customer_id"
    assert quarantined[6].startswith("malformed line: expected 12 fields, found 3")
    assert quarantined[7] == "duplicate id customer_id: C1"
    assert "timestamp in the future for signup_at" in quarantined[8]
    assert "wrong type for marketing_consent (boolean): maybe" in quarantined[8]
    raw = conn.execute(
        "select raw_record, file_name from raw.quarantine where line_number = 6"
    ).fetchone()
    assert raw == ("C5,eve@example.com,Eve", "crm/customers_1.csv")
    assert _audit(conn, "crm_customers") == (7, 1, 6)


def test_reloading_the_same_file_changes_nothing(conn, tmp_path):
    landing = _write(tmp_path, "crm", "customers_1.csv", CRM_HEADER + "\n" + GOOD + "\n")
    first = load_table(conn, landing_table("crm_customers"), landing)
    second = load_table(conn, landing_table("crm_customers"), landing)
    assert first.total("rows_loaded") == 1
    assert second.files == [] and second.skipped_files == ["crm/customers_1.csv"]
    assert conn.execute("select count(*) from raw.crm_customers").fetchone()[0] == 1
    assert conn.execute("select count(*) from raw.load_audit").fetchone()[0] == 1


def test_a_missing_required_column_fails_the_file_and_loads_nothing(conn, tmp_path):
    header = CRM_HEADER.replace("signup_at,", "")
    landing = _write(
        tmp_path, "crm", "customers_1.csv", header + "\nC1,a@b.co,A,B,,X,DE,,gold,true,\n"
    )
    result = load_table(conn, landing_table("crm_customers"), landing)
    assert result.failed[0].error.endswith(
        "missing required column signup_at; nothing of this file was loaded"
    )
    assert "customers_1.csv" in result.failed[0].error
    assert conn.execute("select count(*) from raw.crm_customers").fetchone()[0] == 0
    assert conn.execute("select status from raw.load_audit").fetchone()[0] == "failed"


def test_an_unexpected_column_is_reported_not_fatal(conn, tmp_path):
    landing = _write(
        tmp_path, "crm", "customers_1.csv", CRM_HEADER + ",favourite_colour\n" + GOOD + ",blue\n"
    )
    result = load_table(conn, landing_table("crm_customers"), landing)
    assert result.files[0].unexpected_columns == ["favourite_colour"]
    assert result.total("rows_loaded") == 1


def test_malformed_json_and_unknown_event_types_are_quarantined(conn, tmp_path):
    lines = [
        '{"event_id":"e1","event_type":"page_view","anonymous_id":"a1","occurred_at":"2026-01-01T10:00:00+01:00"}',
        '{"event_id":"e2","event_type":"video_play","anonymous_id":"a1","occurred_at":"2026-01-01T10:00:00Z"}',
        '{"event_id":"e3","event_type":"page_v',
        '["not", "an", "object"]',
    ]
    landing = _write(tmp_path, "web", "events_1.jsonl", "\n".join(lines) + "\n")
    load_table(conn, landing_table("web_events"), landing)
    reasons = [
        r[0]
        for r in conn.execute("select reason from raw.quarantine order by line_number").fetchall()
    ]
    assert reasons[0] == "unknown value for event_type: video_play"
    assert reasons[1].startswith("malformed JSON")
    assert reasons[2] == "malformed JSON: a line must hold one object"
    occurred = conn.execute("select occurred_at from raw.web_events").fetchone()[0]
    assert occurred.isoformat() == "2026-01-01T09:00:00"  # +01:00 stored as UTC


def test_a_source_with_no_files_yields_empty_tables(conn, tmp_path):
    ensure_raw_schema(conn)
    for table in LANDING_TABLES:
        result = load_table(conn, table, tmp_path / "nowhere")
        assert result.files == []
        assert conn.execute(f"select count(*) from raw.{table.name}").fetchone()[0] == 0


def test_an_order_in_a_currency_without_a_rate_is_quarantined_and_the_rest_load(conn, tmp_path):
    landing = _write(
        tmp_path,
        "shop",
        "orders_1.csv",
        "order_id,customer_id,ordered_at,total_amount,currency\n"
        "o1,C1,2026-01-01T10:00:00Z,10.00,EUR\n"
        "o2,C1,2026-01-02T10:00:00Z,12.00,xyz\n"
        "o3,C2,2026-01-03T10:00:00Z,-5.00,usd\n"
        "o4,C3,2026-01-04T10:00:00Z,0.00,\n",
    )
    load_table(conn, landing_table("shop_orders"), landing)
    loaded = {r[0] for r in conn.execute("select order_id from raw.shop_orders").fetchall()}
    assert loaded == {"o1", "o3", "o4"}  # a refund and a free order are orders too
    reason, line = conn.execute(
        "select reason, line_number from raw.quarantine where source_table = 'shop_orders'"
    ).fetchone()
    assert reason == "unknown value for currency: xyz" and line == 3


def test_a_country_that_does_not_exist_is_quarantined_and_names_and_aliases_load(conn, tmp_path):
    rows = [
        GOOD,
        GOOD.replace("C1,", "C2,").replace(",DE,", ",de,"),
        GOOD.replace("C1,", "C3,").replace(",DE,", ", Sweden ,"),
        GOOD.replace("C1,", "C4,").replace(",DE,", ",Deutschland,"),
        GOOD.replace("C1,", "C5,").replace(",DE,", ",Curaçao,"),
        GOOD.replace("C1,", "C6,").replace(",DE,", ",ZZ,"),
        GOOD.replace("C1,", "C7,").replace(",DE,", ",Atlantis,"),
        GOOD.replace("C1,", "C8,").replace(",DE,", ",,"),
    ]
    landing = _write(tmp_path, "crm", "customers_1.csv", CRM_HEADER + "\n" + "\n".join(rows) + "\n")
    load_table(conn, landing_table("crm_customers"), landing)
    loaded = [
        r[0]
        for r in conn.execute("select customer_id from raw.crm_customers order by 1").fetchall()
    ]
    assert loaded == ["C1", "C2", "C3", "C4", "C5", "C8"]
    quarantined = conn.execute(
        "select line_number, reason from raw.quarantine order by 1"
    ).fetchall()
    assert quarantined == [
        (7, "unknown value for country: ZZ"),
        (8, "unknown value for country: Atlantis"),
    ]


def test_an_order_shipped_to_a_country_that_does_not_exist_is_quarantined(conn, tmp_path):
    landing = _write(
        tmp_path,
        "shop",
        "orders_1.csv",
        "order_id,customer_id,ordered_at,total_amount,currency,shipping_country\n"
        "o1,C1,2026-01-01T10:00:00Z,10.00,EUR,FR\n"
        "o2,C1,2026-01-02T10:00:00Z,12.00,EUR,UK\n"
        "o3,C2,2026-01-03T10:00:00Z,15.00,EUR,XX\n",
    )
    load_table(conn, landing_table("shop_orders"), landing)
    loaded = {r[0] for r in conn.execute("select order_id from raw.shop_orders").fetchall()}
    assert loaded == {"o1", "o2"}
    assert conn.execute("select reason from raw.quarantine").fetchall() == [
        ("unknown value for shipping_country: XX",)
    ]
