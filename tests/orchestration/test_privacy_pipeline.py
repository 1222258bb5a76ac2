"""Privacy end to end: a demo run leaves no personal data in MLflow, Dagster's storage or the
logs; an erased person stays erased through a rerun from landing files that still hold
them; access and retention work on a real warehouse. The tests run in file order."""

import contextlib
import io
import json
import logging
import os
import re
from pathlib import Path

import dagster as dg
import duckdb
import pandas as pd
import pytest

from orchestration import cli, settings
from orchestration.demo.generator import DemoParams, generate
from orchestration.privacy import identifiers, retention
from tests.conftest import isolate

DOMAIN = re.compile(rb"@[a-z0-9.-]+\.[a-z]{2,}")
LOCAL = re.compile(rb"[a-z0-9._%+-]+$")
DIGITS = re.compile(rb"\d{9,15}")


def _run(defs, instance, selection=None):
    job = defs.resolve_implicit_global_asset_job_def()
    return job.execute_in_process(
        instance=instance, asset_selection=selection, raise_on_error=False
    )


@pytest.fixture(scope="module")
def demo(tmp_path_factory):
    root = tmp_path_factory.mktemp("privacy")
    with pytest.MonkeyPatch.context() as mp:
        isolate(mp, root)
        generate(
            settings.landing_dir(), settings.ground_truth_dir(), DemoParams(customers=400, seed=5)
        )
        from orchestration.definitions import build_definitions

        defs = build_definitions()
        log_path = root / "logs.txt"
        handler = logging.FileHandler(log_path)
        handler.setLevel(logging.DEBUG)
        logging.getLogger().addHandler(handler)
        (root / "dagster_home").mkdir()
        try:
            with dg.instance_for_test(temp_dir=str(root / "dagster_home")) as instance:
                captured = io.StringIO()
                with contextlib.redirect_stdout(captured), contextlib.redirect_stderr(captured):
                    result = _run(defs, instance)
                (root / "console.txt").write_text(captured.getvalue())
                assert result.success, [e.message for e in result.all_events if e.is_failure]
                yield {"root": root, "defs": defs, "instance": instance, "mp": mp}
        finally:
            logging.getLogger().removeHandler(handler)


def _truth(root: Path) -> pd.DataFrame:
    return pd.read_csv(root / "ground_truth" / "persons.csv", dtype=str)


def _emails_in(data: bytes) -> set[bytes]:
    """Every email-shaped string. Matching starts at each '@' and reads the local part
    backwards: a pattern that starts anywhere backtracks quadratically on binary files."""
    found = set()
    for match in DOMAIN.finditer(data):
        local = LOCAL.search(data, max(0, match.start() - 64), match.start())
        if local:
            found.add(local.group(0) + match.group(0))
    return found


def _found(files, emails: set[bytes], phones: set[bytes]) -> dict[str, list]:
    hits = {}
    for path in files:
        data = path.read_bytes().lower()
        found = _emails_in(data) & emails
        found |= set(DIGITS.findall(data)) & phones
        if found:
            hits[str(path)] = sorted(found)[:3]
    return hits


def test_no_personal_data_in_mlflow_dagster_storage_or_logs(demo):
    root = demo["root"]
    truth = _truth(root)
    emails = {e.lower().encode() for e in truth["email"]}
    phones = {p.lstrip("+").encode() for p in truth["phone_e164"]}
    places = [
        root / "mlflow.db",
        *(p for p in (root / "mlruns").rglob("*") if p.is_file()),
        *(p for p in (root / "dagster_home").rglob("*") if p.is_file()),
        root / "logs.txt",
        root / "console.txt",
    ]
    assert len(places) > 10 and (root / "dagster_home").exists()
    assert _found(places, emails, phones) == {}
    # The scan can find what it looks for: the warehouse does hold the emails.
    assert _found([root / "warehouse.duckdb"], emails, phones)


@pytest.fixture(scope="module")
def victim(demo):
    """A customer who was mailed in the demo run."""
    root = demo["root"]
    sends = pd.concat(
        pd.read_json(p, lines=True) for p in (root / "exports").glob("*/*/sends.jsonl")
    )
    with duckdb.connect(str(root / "warehouse.duckdb"), read_only=True) as conn:
        links = conn.execute(
            "select person_id, source_table, record_id from marts.identity_links"
        ).df()
    crm = links[links["source_table"] == "crm_customers"]
    mailed = sends[sends["person_id"].isin(crm["person_id"])].iloc[0]
    records = links[links["person_id"] == mailed["person_id"]]
    return {
        "email": mailed["recipient"],
        "person_id": mailed["person_id"],
        "records": records["record_id"].tolist(),
        "customer_id": records[records["source_table"] == "crm_customers"]["record_id"].iloc[0],
    }


def _landing_lines_mentioning(folder: Path, needle: str) -> tuple[str, list[str]]:
    header, lines = None, []
    for path in sorted(folder.glob("*")):
        text = path.read_text(encoding="utf-8").splitlines()
        header = text[0] if path.suffix == ".csv" else None
        lines += [line for line in text if needle.lower() in line.lower()]
    return header, lines


def test_an_erased_person_is_nowhere_but_a_hash_after_a_rerun_from_landing_files(demo, victim):
    root, email = demo["root"], victim["email"]
    out = io.StringIO()
    with contextlib.redirect_stdout(out):
        assert cli.main(["forget", "--email", f"  {email.upper()} ", "--dry-run"]) == 0
    assert "dry run, nothing changed: 1 person(s) would be erased" in out.getvalue()
    with duckdb.connect(str(settings.warehouse_path()), read_only=True) as conn:
        assert conn.execute(
            "select count(*) from raw.crm_customers where customer_id = ?", [victim["customer_id"]]
        ).fetchone()[0], "a dry run removes nothing"
    out = io.StringIO()
    with contextlib.redirect_stdout(out):
        assert cli.main(["forget", "--email", f"  {email.upper()} ", "--yes"]) == 0
    assert "1 person(s)" in out.getvalue() and email not in out.getvalue().lower()

    # The next imports still carry them: a new CRM export and new email service events.
    landing = settings.landing_dir()
    for folder, name, needle in (
        ("crm", "customers_2026-11-02.csv", victim["customer_id"] + ","),
        ("esp", "email_events_2026-11.csv", email),
    ):
        header, lines = _landing_lines_mentioning(landing / folder, needle)
        assert lines, f"{folder} holds no line for the victim"
        (landing / folder / name).write_text("\n".join([header, *lines]) + "\n")
    defs = demo["defs"]
    result = _run(defs, demo["instance"])
    assert result.success, [e.message for e in result.all_events if e.is_failure]

    needles = [email.lower(), victim["person_id"].lower()] + [
        r.lower() for r in victim["records"] if len(r) > 6
    ]
    with duckdb.connect(str(root / "warehouse.duckdb"), read_only=True) as conn:
        columns = conn.execute(
            """
            select table_schema, table_name, column_name from information_schema.columns
            where data_type = 'VARCHAR' and table_schema <> 'privacy'
            """
        ).fetchall()
        leftovers = []
        for schema, table, column in columns:
            for needle in needles:
                n = conn.execute(
                    f'select count(*) from "{schema}"."{table}" where contains(lower("{column}"), ?)',
                    [needle],
                ).fetchall()[0][0]
                if n:
                    leftovers.append((f"{schema}.{table}.{column}", needle, n))
        assert leftovers == []
        audit = conn.execute(
            "select sum(rows_erased), sum(rows_received - rows_loaded - rows_quarantined - rows_erased)"
            " from raw.load_audit where file_name like '%customers_2026-11-02.csv' or file_name like '%email_events_2026-11.csv'"
        ).fetchall()[0]
        assert audit[0] > 0 and audit[1] == 0  # every landed row is accounted for
        suppressed = conn.execute(
            "select reason from privacy.suppression_list where email_hash = ?",
            [identifiers.hash_identifier("email", email)],
        ).fetchall()
        assert suppressed == [("erasure",)]
        log = conn.execute("select * from privacy.erasure_log").df()
        assert len(log) == 1 and log["people_erased"][0] == 1
        assert not any(
            needle in json.dumps(log.astype(str).to_dict()).lower() for needle in needles
        )

    for path in (root / "exports").rglob("*"):
        if path.is_file():
            text = path.read_text(encoding="utf-8", errors="ignore").lower()
            assert not any(needle in text for needle in needles), path
    mlflow_store = [root / "mlflow.db", *(p for p in (root / "mlruns").rglob("*") if p.is_file())]
    for path in mlflow_store:
        data = path.read_bytes().lower()
        assert not any(needle.encode() in data for needle in needles), path


def test_access_writes_everything_held_on_a_person_as_one_document(demo, victim, tmp_path):
    root = demo["root"]
    with duckdb.connect(str(root / "warehouse.duckdb"), read_only=True) as conn:
        email, person_id = conn.execute(
            """
            select c.email, c.person_id from marts.dim_customers as c
            join email.send_ledger as l using (person_id)
            where c.email is not null order by c.person_id limit 1
            """
        ).fetchall()[0]
    out = tmp_path / "access.json"
    with contextlib.redirect_stdout(io.StringIO()):
        assert cli.main(["access", "--email", email, "--out", str(out)]) == 0
    assert oct(os.stat(out).st_mode & 0o777) == "0o600"
    document = json.loads(out.read_text())
    assert document["person_ids"] == [person_id]
    assert document["profiles"][0]["email"] == email
    for section in ("consent_history", "segments", "scores", "sends", "source_records"):
        assert document[section], section
    assert document["scores"][0]["person_id"] == person_id


def test_retention_job_purges_events_older_than_the_period(demo):
    demo["mp"].setenv("MAILPIPE_RETENTION_DAYS", "365")
    result = (
        demo["defs"].get_job_def("event_retention").execute_in_process(instance=demo["instance"])
    )
    assert result.success
    with duckdb.connect(str(demo["root"] / "warehouse.duckdb"), read_only=True) as conn:
        as_of = conn.execute("select as_of_at from marts.pipeline_as_of").fetchall()[0][0]
        oldest = conn.execute("select min(occurred_at) from raw.web_events").fetchall()[0][0]
        log = conn.execute(
            "select table_name, rows_removed, retention_days from privacy.retention_log"
        ).df()
    assert oldest >= as_of - pd.Timedelta(days=365)
    assert set(log["table_name"]) == set(retention.RETAINED_EVENT_TABLES)
    assert (log["retention_days"] == 365).all() and log["rows_removed"].sum() > 0


def test_erasure_requests_are_processed_by_the_dagster_job_without_the_email_in_its_storage(demo):
    root = demo["root"]
    with duckdb.connect(str(root / "warehouse.duckdb"), read_only=True) as conn:
        email = conn.execute(
            "select email from marts.dim_customers where email is not null order by person_id desc limit 1"
        ).fetchall()[0][0]
    requests = settings.erasure_requests_dir()
    requests.mkdir(parents=True, exist_ok=True)
    (requests / "ticket-42.txt").write_text(email + "\n")
    result = (
        demo["defs"].get_job_def("erasure_requests").execute_in_process(instance=demo["instance"])
    )
    assert result.success and not list(requests.glob("*.txt"))
    with duckdb.connect(str(root / "warehouse.duckdb"), read_only=True) as conn:
        assert (
            conn.execute(
                "select count(*) from marts.dim_customers where email = ?", [email]
            ).fetchall()[0][0]
            == 0
        )
        assert conn.execute("select count(*) from privacy.erasure_log").fetchall()[0][0] == 2
    storage = [p for p in (root / "dagster_home").rglob("*") if p.is_file()]
    assert not any(email.encode() in p.read_bytes().lower() for p in storage)


def test_access_holds_every_row_that_forget_would_delete(demo):
    from orchestration.privacy import access, erasure

    with duckdb.connect(str(demo["root"] / "warehouse.duckdb")) as conn:
        email = conn.execute(
            """
            select c.email from marts.dim_customers as c
            where c.email is not null
                and exists (select 1 from marts.fct_email_events as e where e.person_id = c.person_id)
                and exists (select 1 from marts.fct_web_events as w where w.person_id = c.person_id)
            order by c.person_id limit 1
            """
        ).fetchone()[0]
        landing = settings.landing_dir()
        document = access.access(conn, email, landing_dir=landing)
        report = erasure.forget(
            conn, email, demo["root"] / "exports", dry_run=True, landing_dir=landing
        )
    held = {table: len(rows) for table, rows in document["every_table"].items()}
    assert held == report.rows_removed
    assert held["marts.fct_email_events"] > 0 and held["marts.fct_web_events"] > 0
    # Every landing file with a line carrying their address is named, by both.
    listed = {m["file"]: m for m in document["landing_files"]}
    assert document["landing_files"] == report.landing_files
    for path in landing.rglob("*.*"):
        lines = path.read_text(encoding="utf-8", errors="replace").lower().splitlines()
        with_email = [n for n, line in enumerate(lines, 1) if email.lower() in line]
        name = path.relative_to(landing).as_posix()
        if with_email:
            assert name in listed, name
            assert listed[name]["lines"] >= len(with_email), name
    assert {"crm_customers", "esp_email_events"} <= {m["table"] for m in listed.values()}
