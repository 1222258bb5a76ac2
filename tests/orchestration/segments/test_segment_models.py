"""`dbt build` alone builds the segments from the YAML library: members keep their entry date,
the size history moves, a small segment warns, and a broken file names itself."""

import json

import duckdb
import pandas as pd
import pytest

from tests.conftest import run_dbt

SEGMENT_MODELS = [
    "int_segments_loaded",
    "int_segment_memberships_evaluated",
    "customer_segments",
    "segment_size_history",
    "assert_segments_reach_their_min_size",
]
BUYERS = """
segments:
  - name: buyers
    description: Ordered in the last month.
    owner: crm-team
    min_size: {min_size}
    rule: {{field: days_since_last_order, lte: 30}}
"""


def _customer_view(warehouse, people: list[str], as_of: str) -> None:
    """The two tables the segment models read, as the rest of the project would build them."""
    frame = pd.DataFrame({"person_id": people, "days_since_last_order": [5] * len(people)})
    with duckdb.connect(str(warehouse)) as conn:
        conn.execute("create schema if not exists marts")
        conn.register("_people", frame)
        conn.execute("create or replace table marts.dim_customers as select * from _people")
        conn.execute(
            "create or replace table marts.pipeline_as_of as select cast(? as timestamp) as as_of_at",
            [as_of],
        )


@pytest.fixture
def library(data_dir):
    folder = data_dir / "segments"
    folder.mkdir()
    return folder


def _build(data_dir, library):
    return run_dbt(
        "build",
        "--select",
        *SEGMENT_MODELS,
        dbt_vars={
            "warehouse_path": str(data_dir / "warehouse.duckdb"),
            "segments_dir": str(library),
        },
        target=data_dir / "dbt_target",
    )


def test_members_keep_their_entry_date_and_the_history_shows_segments_grow_and_shrink(
    data_dir, library
):
    (library / "buyers.yml").write_text(BUYERS.format(min_size=0))
    warehouse = data_dir / "warehouse.duckdb"
    _customer_view(warehouse, ["a", "b"], "2026-10-01")
    assert _build(data_dir, library).returncode == 0
    _customer_view(warehouse, ["b", "c", "d"], "2026-10-02")
    assert _build(data_dir, library).returncode == 0
    with duckdb.connect(str(warehouse), read_only=True) as conn:
        entered = dict(
            conn.execute("select person_id, entered_at from marts.customer_segments").fetchall()
        )
        history = conn.execute(
            "select as_of_date::varchar, members, entered, exited"
            " from marts.segment_size_history order by 1"
        ).fetchall()
    assert str(entered["b"]) == "2026-10-01 00:00:00" and str(entered["c"]) == "2026-10-02 00:00:00"
    assert history == [("2026-10-01", 2, 2, 0), ("2026-10-02", 3, 2, 1)]


def test_a_segment_below_its_minimum_size_is_a_dbt_warning_not_a_failure(data_dir, library):
    (library / "buyers.yml").write_text(BUYERS.format(min_size=5))
    _customer_view(data_dir / "warehouse.duckdb", ["a", "b"], "2026-10-01")
    build = _build(data_dir, library)
    assert build.returncode == 0
    results = json.loads((data_dir / "dbt_target" / "run_results.json").read_text())
    status = {r["unique_id"].split(".")[-1]: r["status"] for r in results["results"]}
    assert status["assert_segments_reach_their_min_size"] == "warn"
    assert status["customer_segments"] == "success"


def test_an_invalid_segment_file_fails_the_build_naming_file_segment_and_field(data_dir, library):
    (library / "broken.yml").write_text(
        "segments:\n  - name: lapsed\n    description: d\n    owner: o\n"
        "    rule: {field: days_since_last_odrer, gt: 60}\n"
    )
    _customer_view(data_dir / "warehouse.duckdb", ["a"], "2026-10-01")
    build = _build(data_dir, library)
    assert build.returncode != 0
    assert "broken.yml: segment 'lapsed': field 'rule': unknown field 'days_since_last_odrer'" in (
        build.stdout
    )
