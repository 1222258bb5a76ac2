"""Incremental facts give exactly what a full refresh gives, even when new data moves old
records to another person."""

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import duckdb

from orchestration import settings
from orchestration.demo.generator import DemoParams, generate
from orchestration.ingest.landing import LANDING_TABLES
from orchestration.ingest.loader import load_table

FACTS = ("fct_orders", "fct_web_events", "fct_email_events")


def _dbt(*args: str) -> None:
    dbt = Path(sys.executable).parent / "dbt"
    subprocess.run(
        [str(dbt), *args, "--profiles-dir", ".", "--quiet"],
        cwd=settings.dbt_project_dir(),
        env=os.environ,
        check=True,
    )


def _load(warehouse: Path, landing: Path) -> None:
    with duckdb.connect(str(warehouse)) as conn:
        for table in LANDING_TABLES:
            load_table(conn, table, landing)


def test_incremental_runs_match_a_full_refresh(data_dir):
    full = data_dir / "all_files"
    generate(full, data_dir / "truth", DemoParams(customers=400, seed=21))
    landing = settings.landing_dir()
    later = []
    for path in full.rglob("*.*"):
        target = landing / path.relative_to(full)
        target.parent.mkdir(parents=True, exist_ok=True)
        month = path.stem.rsplit("_", 1)[-1]
        if month[:4].isdigit() and month > "2026-06":
            later.append((path, target))
        else:
            shutil.copy(path, target)
    assert later
    warehouse = settings.warehouse_path()

    _load(warehouse, landing)
    _dbt("build")
    with duckdb.connect(str(warehouse)) as conn:
        first_orders = conn.execute("select count(*) from marts.fct_orders").fetchone()[0]
        conn.execute(
            "create table main.first_links as select record_key, person_id from marts.identity_links"
        )
    for source, target in later:
        shutil.copy(source, target)
    _load(warehouse, landing)
    _dbt("build")
    with duckdb.connect(str(warehouse)) as conn:
        incremental_orders = conn.execute("select count(*) from marts.fct_orders").fetchone()[0]
        for fact in FACTS:
            conn.execute(
                f"create table main.incremental_{fact} as select * exclude (_loaded_at) from marts.{fact}"
            )
        moved = conn.execute(
            "select count(*) from main.first_links join marts.identity_links using (record_key)"
            " where first_links.person_id <> identity_links.person_id"
        ).fetchone()[0]
    assert incremental_orders > first_orders
    assert moved > 0, "the second batch should move some earlier records to another person"

    _dbt("build", "--full-refresh", "--select", *FACTS)
    with duckdb.connect(str(warehouse), read_only=True) as conn:
        for fact in FACTS:
            rows = conn.execute(f"select count(*) from marts.{fact}").fetchone()[0]
            differences = conn.execute(
                f"""
                select count(*) from (
                    (select * exclude (_loaded_at) from marts.{fact} except all select * from main.incremental_{fact})
                    union all
                    (select * from main.incremental_{fact} except all select * exclude (_loaded_at) from marts.{fact})
                )
                """
            ).fetchone()[0]
            assert rows > 0 and differences == 0, f"{fact}: {differences} rows differ"

    _dbt("docs", "generate")
    catalog = json.loads((settings.dbt_project_dir() / "target" / "catalog.json").read_text())
    assert "model.mailpipe.dim_customers" in catalog["nodes"]
