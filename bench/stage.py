"""Run one stage of the pipeline in this process and report its time and peak memory as JSON.

Run by bench.pipeline, one process per stage, so each stage's peak RSS is its own; dbt runs
as a child process, whose peak is reported separately.
"""

import argparse
import json
import os
import resource
import sys
import threading
import time
from pathlib import Path

STAGES = ("load", "models", "ml", "customer_view", "email")
# Not a pipeline stage: DuckDB reading the same landing files straight into tables, all
# text, skipping what it cannot parse. The load stage's figures are read against it.
DUCKDB_READ = "duckdb_read"


class TreeMemory:
    """Peak resident memory of this process and all its descendants together, sampled from
    /proc: the generator's workers run at once, so their peaks add up, which the largest
    child's peak (`RUSAGE_CHILDREN`) does not show."""

    def __init__(self, every_seconds: float = 0.2):
        self.peak_kb = 0
        self._every = every_seconds
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def __enter__(self):
        self._thread.start()
        return self

    def __exit__(self, *exc):
        self._stop.set()
        self._thread.join()

    @staticmethod
    def _tree(pid: int) -> list[int]:
        pids, todo = [], [pid]
        while todo:
            current = todo.pop()
            pids.append(current)
            for task in Path(f"/proc/{current}/task").glob("*/children"):
                try:
                    todo += [int(x) for x in task.read_text().split()]
                except OSError:
                    continue
        return pids

    def _sample(self) -> int:
        total = 0
        for pid in self._tree(os.getpid()):
            try:
                for line in Path(f"/proc/{pid}/status").read_text().splitlines():
                    if line.startswith("VmRSS:"):
                        total += int(line.split()[1])
            except OSError:
                continue
        return total

    def _run(self) -> None:
        while not self._stop.is_set():
            self.peak_kb = max(self.peak_kb, self._sample())
            self._stop.wait(self._every)


def duckdb_read(landing_dir, database) -> dict[str, int]:
    """`create table as select * from read_csv(...)` / `read_json(...)` per landing table."""
    import duckdb

    from orchestration.ingest.landing import LANDING_TABLES
    from orchestration.ingest.loader import landing_files

    rows = {}
    with duckdb.connect(str(database)) as conn:
        for table in LANDING_TABLES:
            files = [str(p) for p in landing_files(landing_dir, table)]
            if not files:
                continue
            if table.format == "csv":
                reader = (
                    f"read_csv({files}, all_varchar = true, header = true, ignore_errors = true)"
                )
            else:
                columns = ", ".join(f"'{c}': 'VARCHAR'" for c in table.column_names)
                reader = (
                    f"read_json({files}, format = 'newline_delimited', ignore_errors = true,"
                    f" columns = {{{columns}}})"
                )
            conn.execute(f"create or replace table {table.name} as select * from {reader}")
            rows[f"{table.name}_rows"] = conn.execute(
                f"select count(*) from {table.name}"
            ).fetchall()[0][0]
    return rows


def selection(stage: str):
    """Stages in pipeline order, as the Dagster groups are: dbt's staging and core models
    before the models, the customer view and segments after them (they read the scores),
    then the sends and their measurement."""
    import dagster as dg

    return {
        "load": dg.AssetSelection.groups("raw"),
        "models": dg.AssetSelection.groups("staging", "core"),
        "ml": dg.AssetSelection.groups("ml"),
        "customer_view": dg.AssetSelection.groups("customer"),
        "email": dg.AssetSelection.groups("email", "reporting"),
    }[stage]


def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("stage", choices=["generate", DUCKDB_READ, *STAGES])
    parser.add_argument("--customers", type=int, default=10_000)
    parser.add_argument("--seed", type=int, default=42)
    args = parser.parse_args()
    with TreeMemory() as memory:
        report = _run(args)
    report["peak_tree_rss_mb"] = round(memory.peak_kb / 1024, 1)
    print("BENCH " + json.dumps(report))
    return 0 if report["ok"] else 1


def _run(args: argparse.Namespace) -> dict:
    started = time.perf_counter()
    steps: dict[str, float] = {}  # Dagster's steps, for the stages that run assets
    if args.stage == "generate":
        from orchestration import settings
        from orchestration.demo.generator import DemoParams, generate

        counts = generate(
            settings.landing_dir(),
            settings.ground_truth_dir(),
            DemoParams(customers=args.customers, seed=args.seed),
            workers=os.cpu_count() or 1,
        )
        ok, detail = True, {k: v for k, v in counts.items() if k.endswith("_rows")}
    elif args.stage == DUCKDB_READ:
        from orchestration import settings

        database = settings.data_dir() / "duckdb_read.duckdb"
        ok, detail = True, duckdb_read(settings.landing_dir(), database)
        database.unlink()
    else:
        import dagster as dg

        from orchestration.definitions import build_definitions

        defs = build_definitions()
        job = defs.resolve_implicit_global_asset_job_def()
        keys = selection(args.stage).resolve(defs.resolve_asset_graph())
        instance = dg.DagsterInstance.ephemeral()
        result = job.execute_in_process(
            instance=instance, asset_selection=list(keys), raise_on_error=False
        )
        ok = result.success
        steps = _step_seconds(instance, result.run_id)
        detail = {}
        for event in result.get_asset_materialization_events():
            metadata = event.materialization.metadata
            for name in ("dagster/row_count", "emails_per_second"):
                if name in metadata:
                    label = event.asset_key.to_user_string() + (
                        "" if name.startswith("dagster") else f" {name}"
                    )
                    detail[label] = metadata[name].value
    seconds = time.perf_counter() - started
    report = {
        "stage": args.stage,
        "ok": ok,
        "seconds": round(seconds, 2),
        "peak_rss_mb": round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024, 1),
        "peak_child_rss_mb": round(
            resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss / 1024, 1
        ),
        "rows": detail,
    }
    if steps:
        report["steps"] = steps
    return report


def _step_seconds(instance, run_id: str) -> dict[str, float]:
    """Each step's wall time, slowest first, from the run's event log."""
    started, seconds = {}, {}
    for entry in instance.all_logs(run_id):
        event = entry.dagster_event
        if event is None or event.step_key is None:
            continue
        if event.event_type_value == "STEP_START":
            started[event.step_key] = entry.timestamp
        elif event.event_type_value in ("STEP_SUCCESS", "STEP_FAILURE"):
            seconds[event.step_key] = round(entry.timestamp - started[event.step_key], 2)
    return dict(sorted(seconds.items(), key=lambda item: -item[1]))


if __name__ == "__main__":
    sys.exit(main())
