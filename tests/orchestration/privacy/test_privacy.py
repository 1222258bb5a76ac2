"""Privacy building blocks on a small hand-made warehouse: suppression, hashing, retention,
and hostile input in user files."""

import re
from datetime import datetime
from pathlib import Path

import duckdb
import pandas as pd
import pytest

from orchestration import settings
from orchestration.privacy import erasure, identifiers, load_filter, retention, suppression
from orchestration.segments.rules import SegmentError, load_segments


@pytest.fixture
def conn(data_dir):
    with duckdb.connect(str(data_dir / "warehouse.duckdb")) as c:
        c.execute("create schema marts")
        c.execute(
            """
            create table marts.dim_customers (
                person_id varchar, email varchar, has_marketing_consent boolean,
                consent_updated_at timestamp, is_unsubscribed boolean, has_complained boolean,
                has_hard_bounced boolean
            )
            """
        )
        yield c


def _customers(conn, rows):
    conn.execute("delete from marts.dim_customers")
    conn.executemany("insert into marts.dim_customers values (?, ?, ?, ?, ?, ?, ?)", rows)


def test_the_salt_is_generated_once_and_readable_by_its_owner_only(data_dir, monkeypatch):
    monkeypatch.delenv("MAILPIPE_PRIVACY_SALT", raising=False)
    first = identifiers.salt()
    assert first == identifiers.salt() and len(first) == 64
    assert oct((data_dir / ".privacy_salt").stat().st_mode & 0o777) == "0o600"
    digest = identifiers.hash_identifier("email", " Ann@Example.com ")
    assert digest == identifiers.hash_identifier("email", "ann@example.com")
    assert "ann" not in digest
    monkeypatch.setenv("MAILPIPE_PRIVACY_SALT", "another-salt")
    assert identifiers.hash_identifier("email", "ann@example.com") != digest


def test_python_and_sql_hash_an_identifier_alike(conn):
    sql = f"select {identifiers.sql_hash('email', 'e')} from (select ' Ann@Example.COM' as e)"
    assert conn.execute(sql, [identifiers.salt()]).fetchall()[0][0] == identifiers.hash_identifier(
        "email", "ann@example.com"
    )


def test_suppression_survives_a_reimport_that_lost_the_unsubscribe(conn):
    unsubscribed = datetime(2026, 3, 1)
    _customers(conn, [("p1", "ann@example.com", False, unsubscribed, True, False, False)])
    assert suppression.refresh_suppression_list(conn, datetime(2026, 3, 2)) == {"unsubscribe": 1}
    # The email service's history is gone; the CRM still says opted in, as of January.
    _customers(conn, [("p1", "ann@example.com", True, datetime(2026, 1, 1), False, False, False)])
    assert suppression.refresh_suppression_list(conn, datetime(2026, 4, 1)) == {"unsubscribe": 1}
    # Only a newer explicit opt-in lifts it.
    _customers(conn, [("p1", "ann@example.com", True, datetime(2026, 5, 1), False, False, False)])
    assert suppression.refresh_suppression_list(conn, datetime(2026, 5, 2)) == {}


def test_hard_bounces_and_erasures_are_never_lifted(conn, tmp_path):
    _customers(conn, [("p1", "bob@example.com", True, datetime(2026, 1, 1), False, False, True)])
    suppression.refresh_suppression_list(conn, datetime(2026, 2, 1))
    erasure.forget(conn, "cat@example.com", tmp_path)
    _customers(
        conn,
        [
            ("p1", "bob@example.com", True, datetime(2026, 6, 1), False, False, False),
            ("p2", "cat@example.com", True, datetime(2026, 6, 1), False, False, False),
        ],
    )
    assert suppression.refresh_suppression_list(conn, datetime(2026, 6, 2)) == {
        "erasure": 1,
        "hard_bounce": 1,
    }


def test_retention_purges_old_events_and_records_what_went(conn):
    conn.execute("create schema raw")
    conn.execute("create table raw.web_events (event_id varchar, occurred_at timestamp)")
    conn.execute("insert into raw.web_events values ('old', '2024-01-01'), ('new', '2026-06-01')")
    removed = retention.purge_expired(conn, datetime(2026, 11, 1), retention_days=730)
    assert removed == {"raw.web_events": 1}
    assert conn.execute("select event_id from raw.web_events").fetchall() == [("new",)]
    log = conn.execute(
        "select table_name, retention_days, rows_removed from privacy.retention_log"
    ).fetchall()
    assert log == [("raw.web_events", 730, 1)]


def test_hostile_segment_names_are_rejected(tmp_path):
    (tmp_path / "evil.yml").write_text(
        "segments:\n"
        '  - name: "x\'; drop table marts.dim_customers; --"\n'
        "    description: evil\n    owner: nobody\n    rule: {field: email, is: null}\n"
    )
    with pytest.raises(SegmentError, match="evil.yml: segments\\[0\\]: field 'name'"):
        load_segments(tmp_path)


def test_hostile_campaign_ids_are_rejected(data_dir):
    from email_render.campaign import CampaignError, load_campaigns
    from email_render.render import TEMPLATES_DIR

    source = (settings.campaigns_dir() / "weekly_picks.yaml").read_text()
    folder = data_dir / "campaigns"
    folder.mkdir()
    hostile = source.replace(
        "campaign_id: weekly-picks", 'campaign_id: "weekly\'; drop table x; --"'
    )
    (folder / "evil.yaml").write_text(hostile)
    with pytest.raises(CampaignError, match="evil.yaml"):
        load_campaigns(folder, TEMPLATES_DIR)


def test_the_uis_bind_to_localhost_only():
    makefile = (settings.PROJECT_ROOT / "Makefile").read_text()
    for target in ("ui", "mlflow"):
        recipe = re.search(rf"^{target}:.*\n((?:\t.*\n)+)", makefile, re.M).group(1)
        assert "127.0.0.1" in recipe and "0.0.0.0" not in recipe


def test_smtp_credentials_come_from_the_environment_only():
    example = (settings.PROJECT_ROOT / ".env.example").read_text()
    for key in ("MAILPIPE_SMTP_PASSWORD", "MAILPIPE_SMTP_USERNAME", "MAILPIPE_PRIVACY_SALT"):
        assert re.search(rf"^{key}=$", example, re.M), f"{key} must ship empty"
    tracked = [
        p
        for p in Path(settings.PROJECT_ROOT).rglob("*")
        if p.is_file()
        and p.suffix in {".py", ".yml", ".yaml", ".toml", ".cfg"}
        and ".venv" not in p.parts
        and "data" not in p.parts
    ]
    for path in tracked:
        assert not re.search(
            r"(?i)smtp_password\s*[:=]\s*['\"]\S+", path.read_text(errors="ignore")
        ), path


def test_frames_of_erased_people_are_split_off_before_loading(conn, tmp_path):
    erasure.forget(conn, "ann@example.com", tmp_path)
    frame = pd.DataFrame(
        {
            "event_id": ["e1", "e2"],
            "email": ["ANN@example.com ", "bob@example.com"],
            "_raw": ["e1,ANN@example.com", "e2,bob@example.com"],
        }
    )
    kept, erased = load_filter.split_erased(conn, "esp_email_events", frame)
    assert erased == 1 and kept["event_id"].tolist() == ["e2"]
    kept, erased = load_filter.drop_erased_rejects(conn, frame)
    assert erased == 1 and kept["event_id"].tolist() == ["e2"]


def test_hostile_audience_values_are_bound_as_data_and_unknown_names_rejected():
    from orchestration.segments.rules import compile_condition

    hostile = "x'; drop table marts.dim_customers; --"
    columns = {"first_name": "VARCHAR", "email": "VARCHAR"}
    sql, params = compile_condition(
        {"field": "first_name", "eq": hostile}, columns, [], "c.yaml", "campaign 'c'", "audience"
    )
    assert hostile not in sql and params == [hostile]
    with pytest.raises(SegmentError, match="c.yaml: campaign 'c': field 'audience"):
        compile_condition(
            {"segment": "vip' or 1=1 --"}, columns, [], "c.yaml", "campaign 'c'", "audience"
        )
