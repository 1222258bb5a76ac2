"""28 kinds of bad input, each quarantined with its line and reason, and nothing lost."""

import json

import duckdb
import pytest

from orchestration.ingest.landing import LANDING_TABLES
from orchestration.ingest.loader import load_table

CRM = (
    "customer_id,email,first_name,last_name,phone,city,country,birth_date,signup_at,"
    "loyalty_tier,marketing_consent,consent_updated_at"
)


def crm(
    customer_id="C9", birth="1990-01-02", signup="2025-01-01T10:00:00Z", tier="gold", consent="true"
):
    return f"{customer_id},a@example.com,Ann,Lee,,Berlin,DE,{birth},{signup},{tier},{consent},"


def web(**fields):
    event = {
        "event_id": "w9",
        "event_type": "page_view",
        "anonymous_id": "anon-1",
        "occurred_at": "2026-01-01T10:00:00Z",
    }
    event.update(fields)
    return json.dumps({k: v for k, v in event.items() if v is not ...})


# (source, file name, header, good rows, [(bad line, expected reason prefix)])
CASES = [
    (
        "crm",
        "customers_1.csv",
        CRM,
        [crm("C1"), crm("C2")],
        [
            ("C3,a@example.com,Ann", "malformed line: expected 12 fields, found 3"),
            (crm("C4") + ",extra", "malformed line: expected 12 fields, found 13"),
            (crm(""), "missing required field customer_id"),
            (crm("   "), "missing required field customer_id"),
            (crm("C5", signup="yesterday"), "wrong type for signup_at (timestamp): yesterday"),
            (crm("C6", signup="03/04/2026 10:00"), "wrong type for signup_at (timestamp)"),
            (crm("C7", birth="1990-13-45"), "wrong type for birth_date (date): 1990-13-45"),
            (crm("C8", tier="diamond"), "unknown value for loyalty_tier: diamond"),
            (crm("C10", consent="maybe"), "wrong type for marketing_consent (boolean): maybe"),
            (crm("C11", signup="2099-01-01T00:00:00Z"), "timestamp in the future for signup_at"),
            (crm("C1"), "duplicate id customer_id: C1"),
            (crm("C0"), "duplicate id customer_id: C0"),  # loaded from an earlier file
            (
                "C12,\udcff\udcfe@example.com,Ann,Lee,,Berlin,DE,,2025-01-01T10:00:00Z,gold,true,",
                "invalid UTF-8 encoding",
            ),
        ],
    ),
    (
        "shop",
        "orders_1.csv",
        "order_id,customer_id,email,ordered_at,total_amount,currency,shipping_country",
        ["O1,C1,a@example.com,2026-01-01T10:00:00Z,12.50,EUR,DE"],
        [
            (
                'O2,C1,a@example.com,2026-01-01T10:00:00Z,"12,50",EUR,DE',
                "wrong type for total_amount (decimal): 12,50",
            ),
            (
                "O3,C1,a@example.com,2026-01-01T10:00:00Z,,EUR,DE",
                "missing required field total_amount",
            ),
        ],
    ),
    (
        "shop",
        "order_items_1.csv",
        "order_id,line_number,product_id,quantity,unit_price",
        ["O1,1,SKU-1,2,6.25"],
        [
            ("O1,2,SKU-1,1.5,6.25", "wrong type for quantity (integer): 1.5"),
            ("O1,3,SKU-1,two,6.25", "wrong type for quantity (integer): two"),
        ],
    ),
    (
        "esp",
        "email_events_1.csv",
        "event_id,campaign_id,email,event_type,occurred_at,bounce_type,link_url",
        ["e1,c1,a@example.com,sent,2026-01-01 10:00:00,,"],
        [
            (
                "e2,c1,not-an-email,sent,2026-01-01 10:00:00,,",
                "invalid email for email: not-an-email",
            ),
            (
                "e3,c1,a@example.com,deferred,2026-01-01 10:00:00,,",
                "unknown value for event_type: deferred",
            ),
            (
                "e4,c1,a@example.com,bounce,2026-01-01 10:00:00,medium,",
                "unknown value for bounce_type: medium",
            ),
        ],
    ),
    (
        "web",
        "events_1.jsonl",
        None,
        [web(event_id="w1")],
        [
            ('{"event_id": "w2", "event_type": "page_v', "malformed JSON"),
            ('["w3", "page_view"]', "malformed JSON: a line must hold one object"),
            (web(event_id="w4", anonymous_id=...), "missing required field anonymous_id"),
            (web(event_id=None), "missing required field event_id"),
            (
                web(event_id="w5", event_type="video_play"),
                "unknown value for event_type: video_play",
            ),
            (web(event_id="w6", quantity="two"), "wrong type for quantity (integer): two"),
            (
                web(event_id="w7", occurred_at="2099-01-01T00:00:00Z"),
                "timestamp in the future for occurred_at",
            ),
            (web(event_id="w1"), "duplicate id event_id: w1"),
        ],
    ),
]


def _write(path, header, lines):
    text = "\n".join(([header] if header else []) + lines) + "\n"
    path.write_bytes(text.encode("utf-8", "surrogateescape"))


def test_twenty_eight_kinds_of_bad_input_are_quarantined_and_every_row_is_accounted_for(tmp_path):
    landing = tmp_path / "landing"
    for source, _, _, _, _ in CASES:
        (landing / source).mkdir(parents=True, exist_ok=True)
    _write(landing / "crm" / "customers_0.csv", CRM, [crm("C0")])
    expected = {}
    for source, name, header, good, bad in CASES:
        _write(landing / source / name, header, good + [line for line, _ in bad])
        first_bad = len(good) + (2 if header else 1)
        for offset, (_, reason) in enumerate(bad):
            expected[(f"{source}/{name}", first_bad + offset)] = reason
    assert len(expected) == 28

    with duckdb.connect(str(tmp_path / "w.duckdb")) as conn:
        for table in LANDING_TABLES:
            load_table(conn, table, landing)
        quarantined = {
            (file, line): reason
            for file, line, reason in conn.execute(
                "select file_name, line_number, reason from raw.quarantine"
            ).fetchall()
        }
        audit = conn.execute(
            "select file_name, rows_received, rows_loaded, rows_quarantined from raw.load_audit"
        ).fetchall()

    assert set(quarantined) == set(expected)
    for key, reason in expected.items():
        assert quarantined[key].startswith(reason), (key, quarantined[key])
    for file, received, loaded, rejected in audit:
        source, name = file.split("/")
        case = next((c for c in CASES if c[0] == source and c[1] == name), None)
        good = 1 if case is None else len(case[3])
        assert (received, loaded, rejected) == (
            good + (0 if case is None else len(case[4])),
            good,
            received - good,
        )


@pytest.mark.parametrize(
    "text",
    [
        "2026-03-01T09:00:00Z",
        "2026-03-01T10:00:00+01:00",
        "2026-03-01 09:00:00",
        "1772355600",
        "1772355600000",
        "Sun, 01 Mar 2026 10:00:00 +0100",
    ],
)
def test_timestamps_in_every_accepted_format_land_as_the_same_utc_instant(tmp_path, text):
    folder = tmp_path / "landing" / "esp"
    folder.mkdir(parents=True)
    (folder / "email_events_1.csv").write_text(
        "event_id,campaign_id,email,event_type,occurred_at,bounce_type,link_url\n"
        f'e1,c1,a@example.com,sent,"{text}",,\n'
    )
    with duckdb.connect(str(tmp_path / "w.duckdb")) as conn:
        load_table(
            conn,
            next(t for t in LANDING_TABLES if t.name == "esp_email_events"),
            tmp_path / "landing",
        )
        occurred = conn.execute("select occurred_at from raw.esp_email_events").fetchone()[0]
    assert occurred.isoformat() == "2026-03-01T09:00:00"
