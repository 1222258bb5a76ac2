"""Realistic files load exactly: what a field holds reaches the raw table byte for byte, and
what the contract cannot hold is quarantined by row or fails the file with a clear error."""

import json

import duckdb
import pytest

from orchestration.ingest import records
from orchestration.ingest.landing import landing_table
from orchestration.ingest.loader import FIELD_LIMIT_BYTES, load_table

PRODUCTS = "product_id,product_name,category,price,currency,product_url,image_url"
ORDERS = "order_id,customer_id,email,ordered_at,total_amount,currency,shipping_country"


@pytest.fixture
def conn(tmp_path):
    with duckdb.connect(str(tmp_path / "w.duckdb")) as c:
        yield c


def _land(tmp_path, source, name, data: bytes):
    folder = tmp_path / "landing" / source
    folder.mkdir(parents=True, exist_ok=True)
    (folder / name).write_bytes(data)
    return tmp_path / "landing"


def _quarantine(conn):
    return dict(conn.execute("select line_number, reason from raw.quarantine").fetchall())


def test_line_breaks_quotes_commas_and_unicode_in_a_field_arrive_byte_for_byte(conn, tmp_path):
    name = 'Mug "Big"\r\nstill, the same mug \u2615 — Größe'
    quoted = '"' + name.replace('"', '""') + '"'
    text = f"{PRODUCTS}\np1,{quoted},kitchen,9.50,EUR,,\np2,Plate,kitchen,not-a-price,EUR,,\n"
    landing = _land(tmp_path, "shop", "products_1.csv", text.encode())
    load_table(conn, landing_table("shop_products"), landing)
    assert conn.execute("select product_name from raw.shop_products").fetchall() == [(name,)]
    # The broken row starts on line 4: the line break inside the quoted name counts as a line.
    assert _quarantine(conn) == {4: "wrong type for price (decimal): not-a-price"}


def test_excel_csv_utf8_with_a_byte_order_mark_and_crlf_loads(conn, tmp_path):
    text = f"{PRODUCTS}\r\np1,Crème brûlée set,kitchen,12.00,EUR,,\r\n"
    landing = _land(tmp_path, "shop", "products_1.csv", b"\xef\xbb\xbf" + text.encode())
    result = load_table(conn, landing_table("shop_products"), landing)
    assert result.failed == []
    row = conn.execute(
        "select product_id, product_name, image_url from raw.shop_products"
    ).fetchone()
    assert row == ("p1", "Crème brûlée set", None)


def test_a_field_over_the_limit_or_with_a_nul_byte_quarantines_its_row_only(conn, tmp_path):
    huge = "x" * (FIELD_LIMIT_BYTES + 1)
    text = (
        f"{PRODUCTS}\n"
        f"p1,{huge},kitchen,1.00,EUR,,\n"
        "p2,Nul\x00name,kitchen,1.00,EUR,,\n"
        "p3,Plate,kitchen,1.00,EUR,,\n"
    )
    landing = _land(tmp_path, "shop", "products_1.csv", text.encode())
    result = load_table(conn, landing_table("shop_products"), landing)
    assert conn.execute("select product_id from raw.shop_products").fetchall() == [("p3",)]
    reasons = _quarantine(conn)
    assert reasons[2] == (
        f"field product_name longer than {FIELD_LIMIT_BYTES:,} bytes: {FIELD_LIMIT_BYTES + 1} bytes"
    )
    assert reasons[3] == "NUL byte in field product_name"
    raw = conn.execute("select raw_record from raw.quarantine where line_number = 2").fetchone()
    assert raw[0] == f"p1,{huge},kitchen,1.00,EUR,,"  # kept whole: nothing is lost
    assert result.total("rows_received") == 3


@pytest.mark.parametrize("amount", ["inf", "NaN", "-Infinity", "1e999", "1_000", "0x10"])
def test_non_finite_and_non_plain_numbers_are_a_wrong_type(conn, tmp_path, amount):
    text = f"{ORDERS}\no1,C1,,2026-01-01T10:00:00Z,{amount},EUR,DE\n"
    landing = _land(tmp_path, "shop", "orders_1.csv", text.encode())
    load_table(conn, landing_table("shop_orders"), landing)
    assert conn.execute("select count(*) from raw.shop_orders").fetchone()[0] == 0
    assert _quarantine(conn) == {2: f"wrong type for total_amount (decimal): {amount}"}


def test_a_json_object_or_list_where_the_contract_wants_a_value_is_a_wrong_type(conn, tmp_path):
    base = {"event_type": "page_view", "anonymous_id": "a1", "occurred_at": "2026-01-01T10:00:00Z"}
    lines = [
        {**base, "event_id": "e1", "page_url": {"nested": True}},
        {**base, "event_id": "e2", "quantity": [1, 2]},
        {**base, "event_id": "e3", "page_url": 'https://shop.example/a?b=1,c="2"', "quantity": 2},
    ]
    text = "\n".join(json.dumps(line) for line in lines) + "\n"
    landing = _land(tmp_path, "web", "events_1.jsonl", text.encode())
    load_table(conn, landing_table("web_events"), landing)
    assert _quarantine(conn) == {
        1: 'wrong type for page_url (string): a JSON object {"nested":true}',
        2: "wrong type for quantity (integer): a JSON list [1,2]",
    }
    assert conn.execute("select event_id, page_url, quantity from raw.web_events").fetchall() == [
        ("e3", 'https://shop.example/a?b=1,c="2"', 2)
    ]


def test_a_nul_escaped_in_json_quarantines_its_row(conn, tmp_path):
    base = {"event_type": "search", "anonymous_id": "a1", "occurred_at": "2026-01-01T10:00:00Z"}
    lines = [{**base, "event_id": "e1", "search_query": "mug\u0000"}, {**base, "event_id": "e2"}]
    text = "\n".join(json.dumps(line) for line in lines) + "\n"
    landing = _land(tmp_path, "web", "events_1.jsonl", text.encode())
    load_table(conn, landing_table("web_events"), landing)
    assert _quarantine(conn) == {1: "NUL byte in field search_query"}
    assert conn.execute("select event_id from raw.web_events").fetchall() == [("e2",)]


def test_a_csv_of_blank_lines_is_an_empty_load_not_an_error(conn, tmp_path):
    landing = _land(tmp_path, "shop", "products_1.csv", b"\r\n\n\r\n")
    result = load_table(conn, landing_table("shop_products"), landing)
    assert result.failed == [] and result.total("rows_received") == 0


def test_a_repeated_header_fails_the_file_naming_the_column(conn, tmp_path):
    text = f"{PRODUCTS},price\np1,Mug,kitchen,1.00,EUR,,,2.00\n"
    landing = _land(tmp_path, "shop", "products_1.csv", text.encode())
    result = load_table(conn, landing_table("shop_products"), landing)
    assert "column price appear more than once in the header" in result.failed[0].error
    assert conn.execute("select count(*) from raw.shop_products").fetchone()[0] == 0


@pytest.mark.parametrize(("delimiter", "name"), [(";", "semicolons"), ("\t", "tabs")])
def test_a_delimiter_other_than_a_comma_fails_the_file_saying_which(
    conn, tmp_path, delimiter, name
):
    text = PRODUCTS.replace(",", delimiter) + "\n" + delimiter.join(["p1", "Mug", "k", "1"]) + "\n"
    landing = _land(tmp_path, "shop", "products_1.csv", text.encode())
    result = load_table(conn, landing_table("shop_products"), landing)
    error = result.failed[0].error
    assert f"separated by {name} ({delimiter!r})" in error and "products_1.csv" in error


def test_a_file_read_in_many_small_blocks_loads_as_in_one(conn, tmp_path, monkeypatch):
    rows = [f'p{i},"Mug\n{i}",kitchen,{i}.00,EUR,,' for i in range(1, 200)]
    rows[50] = "p51,Mug,kitchen,cheap,EUR,,"
    rows[120] = "p1,Duplicate,kitchen,1.00,EUR,,"
    landing = _land(
        tmp_path, "shop", "products_1.csv", ("\n".join([PRODUCTS, *rows]) + "\n").encode()
    )
    monkeypatch.setattr(records, "BLOCK_BYTES", 97)
    result = load_table(conn, landing_table("shop_products"), landing)
    assert (result.total("rows_loaded"), result.total("rows_quarantined")) == (197, 2)
    # Records span two lines, the replaced ones one: the 51st starts on line 102 and the
    # 121st, after 119 two-line records and one of one line, on line 241.
    assert _quarantine(conn) == {
        102: "wrong type for price (decimal): cheap",
        241: "duplicate id product_id: p1",
    }
    names = conn.execute(
        "select product_name from raw.shop_products order by _source_line"
    ).fetchall()
    assert names[:2] == [("Mug\n1",), ("Mug\n2",)]


def test_the_same_bytes_under_another_name_are_not_loaded_twice(conn, tmp_path):
    text = f"{PRODUCTS}\np1,Mug,kitchen,1.00,EUR,,\n".encode()
    landing = _land(tmp_path, "shop", "products_1.csv", text)
    load_table(conn, landing_table("shop_products"), landing)
    _land(tmp_path, "shop", "products_2.csv", text)
    second = load_table(conn, landing_table("shop_products"), landing)
    assert second.skipped_files == ["shop/products_1.csv", "shop/products_2.csv"]
    assert conn.execute("select count(*) from raw.load_audit").fetchone()[0] == 1


def test_a_timestamp_without_a_zone_is_utc_whatever_the_sessions_zone(conn, tmp_path):
    conn.execute("set TimeZone = 'America/New_York'")
    text = f"{ORDERS}\no1,C1,,2026-01-01 10:00:00,5.00,EUR,DE\no2,C1,,2026-01-01T10:00:00+01:00,5.00,EUR,DE\n"
    landing = _land(tmp_path, "shop", "orders_1.csv", text.encode())
    load_table(conn, landing_table("shop_orders"), landing)
    stored = conn.execute(
        "select ordered_at::varchar from raw.shop_orders order by order_id"
    ).fetchall()
    assert stored == [("2026-01-01 10:00:00",), ("2026-01-01 09:00:00",)]
    assert conn.execute("select current_setting('TimeZone')").fetchone()[0] == "America/New_York"


@pytest.mark.parametrize("block_bytes", [61, 1 << 20])
def test_a_duplicate_is_quarantined_with_its_exact_text_from_any_block_or_earlier_file(
    conn, tmp_path, monkeypatch, block_bytes
):
    monkeypatch.setattr(records, "BLOCK_BYTES", block_bytes)
    header = PRODUCTS.encode() + b"\r\n"
    _land(tmp_path, "shop", "products_1.csv", header + b"p0,Cup,kitchen,2.00,EUR,,\r\n")
    load_table(conn, landing_table("shop_products"), tmp_path / "landing")
    twice = 'p1,"Mug\r\n""Größe"", ☕",kitchen,9.50,EUR,,'
    rows = [twice, "p2,Plate,kitchen,3.00,EUR,,", twice, "p0,Cup again,kitchen,2.00,EUR,,"]
    landing = _land(
        tmp_path,
        "shop",
        "products_2.csv",
        b"\xef\xbb\xbf" + header + "\r\n".join(rows).encode() + b"\r\n",
    )
    load_table(conn, landing_table("shop_products"), landing)
    quarantined = conn.execute(
        "select line_number, reason, raw_record from raw.quarantine order by line_number"
    ).fetchall()
    assert quarantined == [
        (5, "duplicate id product_id: p1", twice),
        (7, "duplicate id product_id: p0", "p0,Cup again,kitchen,2.00,EUR,,"),
    ]


def test_a_duplicate_json_line_keeps_its_text_byte_for_byte(conn, tmp_path):
    line = b'{"event_id":"w1","event_type":"search","anonymous_id":"a1",'
    good = line + b'"occurred_at":"2026-01-01T00:00:00Z","search_query":"caf\xc3\xa9"}\n'
    landing = _land(tmp_path, "web", "events_1.jsonl", good + good)
    load_table(conn, landing_table("web_events"), landing)
    assert conn.execute(
        "select line_number, reason, raw_record from raw.quarantine"
    ).fetchall() == [(2, "duplicate id event_id: w1", good.decode().rstrip("\n"))]
