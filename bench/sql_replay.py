"""dbt's work run again by DuckDB alone: the SQL one dbt invocation ran (each model's compiled
SQL, each data test and unit test) on the same tables, in the same run, timed. The ratio of
the stage's wall time to it is what dbt, Dagster and their start-ups add to the warehouse's
own work.

Models are rebuilt into a scratch schema that is dropped afterwards, so the warehouse the
later stages read is the one dbt built; each reads the same upstream tables dbt's did. Python
models (identity matching) and seeds are not SQL to replay: dbt's own timing of them is
reported beside the replay.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from dataclasses import asdict, dataclass
from pathlib import Path

import duckdb

SCRATCH = "bench_replay"


@dataclass
class Replay:
    invocations: int = 0
    sql_nodes: int = 0
    # DuckDB alone on the SQL nodes, and dbt's own timing of the same nodes.
    duckdb_seconds: float = 0.0
    dbt_seconds: float = 0.0
    # Nodes that are not SQL (Python models, seeds): dbt's timing, not replayed.
    other_nodes: int = 0
    other_seconds: float = 0.0
    # From dbt's start to its end, start-up, parse and bookkeeping included.
    dbt_elapsed_seconds: float = 0.0

    def as_dict(self) -> dict:
        return {k: round(v, 2) if isinstance(v, float) else v for k, v in asdict(self).items()}


def invocations_since(target_dir: Path, started_at: float) -> list[Path]:
    """The run results of the dbt invocations that finished after `started_at` (dagster-dbt
    gives each invocation its own folder under target/)."""
    found = [p for p in target_dir.glob("*/run_results.json") if p.stat().st_mtime >= started_at]
    return sorted(found, key=lambda p: p.stat().st_mtime)


def replay(database: Path, run_results: list[Path], memory_limit: str) -> Replay:
    """Run every SQL node of these invocations again, in the order dbt ran them."""
    out = Replay(invocations=len(run_results))
    with duckdb.connect(str(database)) as conn:
        # dbt's profile: its memory limit, and one node at a time (DuckDB parallelises each).
        conn.execute(f"set memory_limit = '{memory_limit}'")
        conn.execute(f"create schema if not exists {SCRATCH}")
        try:
            for path in run_results:
                _replay_invocation(conn, path, out)
        finally:
            conn.execute(f"drop schema if exists {SCRATCH} cascade")
    return out


def _replay_invocation(conn, path: Path, out: Replay) -> None:
    results = json.loads(path.read_text())
    manifest = json.loads((path.parent / "manifest.json").read_text())
    out.dbt_elapsed_seconds += results["elapsed_time"]
    for result in results["results"]:
        # A test that found failures ran its query all the same; an error or a skip did not.
        if result["status"] not in ("success", "pass", "warn", "fail"):
            continue
        unique_id = result["unique_id"]
        kind = unique_id.split(".", 1)[0]
        node = manifest["nodes"].get(unique_id, {})
        sql = result.get("compiled_code")
        if kind == "seed" or not sql or node.get("language") == "python":
            out.other_nodes += 1
            out.other_seconds += result["execution_time"]
            continue
        if kind == "model":
            materialized = node["config"]["materialized"]
            relation = "view" if materialized == "view" else "table"
            statement = f'create or replace {relation} {SCRATCH}."{node["name"]}" as (\n{sql}\n)'
        else:
            statement = f"select count(*) from (\n{sql}\n)"
        started = time.perf_counter()
        conn.execute(statement).fetchall()
        out.duckdb_seconds += time.perf_counter() - started
        out.dbt_seconds += result["execution_time"]
        out.sql_nodes += 1


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--since", type=float, required=True, help="epoch seconds")
    args = parser.parse_args()
    from orchestration import settings

    results = invocations_since(settings.dbt_project_dir() / "target", args.since)
    found = replay(settings.warehouse_path(), results, settings.duckdb_memory_limit())
    print("BENCH " + json.dumps(found.as_dict()))
    return 0


if __name__ == "__main__":
    sys.exit(main())
