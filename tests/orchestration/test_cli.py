"""The command line a campaign author uses: validate files and reset a day's plan."""

import duckdb

from orchestration import settings
from orchestration.cli import main
from orchestration.sends import email_schema


def test_validate_reports_every_broken_file_at_once_and_exits_non_zero(
    data_dir, capsys, tmp_path, monkeypatch
):
    campaigns = tmp_path / "campaigns"
    campaigns.mkdir()
    shipped = (settings.campaigns_dir() / "weekly_picks.yaml").read_text()
    (campaigns / "ok.yaml").write_text(shipped)
    (campaigns / "typo.yaml").write_text(
        shipped.replace("weekly-picks", "typo").replace("holdout_share", "holdout_shar")
    )
    (campaigns / "same_id.yaml").write_text(shipped)
    monkeypatch.setenv("MAILPIPE_CAMPAIGNS_DIR", str(campaigns))

    assert main(["campaign", "validate"]) == 1
    out = capsys.readouterr().out
    assert f"{campaigns / 'typo.yaml'}: field 'holdout_shar'" in out
    assert (
        f"{campaigns / 'same_id.yaml'}: field 'campaign_id': 'weekly-picks' is also used by" in out
    )
    assert "1 campaigns, 4 journeys" in out and "2 with errors" in out
    assert "checked against the files only: no warehouse yet" in out

    (campaigns / "typo.yaml").unlink()
    (campaigns / "same_id.yaml").unlink()
    assert main(["campaign", "validate"]) == 0


def test_reset_drops_an_unsent_plan_and_keeps_one_partly_exported(data_dir, capsys):
    with duckdb.connect(str(settings.warehouse_path())) as conn:
        email_schema.ensure_tables(conn)
        conn.execute(
            "insert into email.send_plan (campaign_id, send_date, person_id, variant, batch_no, planned_at) values"
            " ('new', '2026-11-02', 'p1', 'a', 0, now()), ('new', '2026-11-02', 'p2', 'b', 0, now()),"
            " ('half', '2026-11-02', 'p1', 'a', 0, now()), ('half', '2026-11-02', 'p2', 'a', 1, now()),"
            " ('new', '2026-11-01', 'p1', 'a', 0, now())"
        )
        conn.execute(
            "insert into email.send_ledger values ('half', '2026-11-02', 'p1', 'a', 'm1', now(), null)"
        )

    assert main(["campaign", "reset", "--date", "2026-11-02"]) == 1
    out = capsys.readouterr().out
    assert "new: the plan for 2026-11-02 is dropped" in out
    assert "half: kept: part of the 2026-11-02 plan was exported already" in out
    with duckdb.connect(str(settings.warehouse_path()), read_only=True) as conn:
        left = conn.execute(
            "select campaign_id, send_date::varchar, count(*) from email.send_plan group by all order by all"
        ).fetchall()
    assert left == [("half", "2026-11-02", 2), ("new", "2026-11-01", 1)]
    assert main(["campaign", "reset", "--date", "2026-10-01"]) == 1
    assert "no plan for 2026-10-01" in capsys.readouterr().out


def test_forget_and_access_refuse_what_they_cannot_do_with_a_message(data_dir, capsys, monkeypatch):
    with duckdb.connect(str(settings.warehouse_path())) as conn:
        conn.execute("create schema raw")
    assert main(["access", "--email", "not-an-address"]) == 2
    assert "not an email address: 'not-an-address'" in capsys.readouterr().out
    assert main(["access", "--email", "nobody@example.com"]) == 1
    assert "nobody in the warehouse has this email" in capsys.readouterr().out
    # Not at a terminal and not confirmed: an erasure cannot be undone.
    monkeypatch.setattr("sys.stdin.isatty", lambda: False)
    assert main(["forget", "--email", "nobody@example.com"]) == 2
    assert "add --yes to confirm, or --dry-run" in capsys.readouterr().out
    assert main(["forget", "--email", "nobody@example.com", "--yes"]) == 1
    assert "nobody in the warehouse had this email" in capsys.readouterr().out


def test_a_warehouse_held_by_another_process_is_named_not_a_traceback(data_dir):
    import subprocess
    import sys

    import pytest

    holder = subprocess.Popen(
        [
            sys.executable,
            "-c",
            "import duckdb, sys, time; c = duckdb.connect(sys.argv[1]); print('ready', flush=True);"
            " time.sleep(60)",
            str(settings.warehouse_path()),
        ],
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        assert holder.stdout.readline().strip() == "ready"
        with pytest.raises(SystemExit) as stopped:
            main(["access", "--email", "ann@example.com"])
        message = str(stopped.value)
        assert f"is in use by process {holder.pid}" in message and "try again" in message
    finally:
        holder.kill()
        holder.wait()


def test_regenerating_demo_files_a_warehouse_already_loaded_says_they_would_mix(data_dir, capsys):
    assert main(["generate", "--customers", "50", "--seed", "1"]) == 0
    assert "WARNING" not in capsys.readouterr().out
    from orchestration.ingest.landing import LANDING_TABLES
    from orchestration.ingest.loader import load_table

    with duckdb.connect(str(settings.warehouse_path())) as conn:
        for table in LANDING_TABLES:
            load_table(conn, table, settings.landing_dir())
    assert main(["generate", "--customers", "50", "--seed", "1"]) == 0
    assert "WARNING" not in capsys.readouterr().out, "the same files: nothing mixes"
    assert main(["generate", "--customers", "50", "--seed", "2"]) == 0
    out = capsys.readouterr().out
    assert "replace files the warehouse already loaded with other contents" in out
    assert str(settings.warehouse_path()) in out
