"""`make bench`: generate demo data at a scale and run every stage, printing wall time and
peak memory per stage. Each stage is its own process; data goes to data/bench/<customers>/."""

import argparse
import json
import os
import shutil
import subprocess
import sys
import time

from orchestration import settings

STAGES = ["generate", "load", "duckdb_read", "models", "ml", "customer_view", "email"]


# Stages that move landing rows: their rows per second are the landing rows over the time.
LANDING_STAGES = ("generate", "load", "duckdb_read")
# Stages that run dbt: their SQL is run again by DuckDB alone for the ratio.
DBT_STAGES = ("models", "customer_view", "email")
STEPS_SHOWN = 5


def _landing_rows(report: dict) -> int:
    """Rows written (`<table>_rows`: generate, DuckDB's read) or in the raw tables (load)."""
    return sum(v for k, v in report["rows"].items() if k.endswith("_rows") or k.startswith("raw/"))


def _run_module(module: str, args: list[str], env: dict) -> dict | None:
    """Run a bench module in its own process; its report is the line it prints after BENCH."""
    proc = subprocess.run(
        [sys.executable, "-m", module, *args],
        env=env,
        capture_output=True,
        text=True,
        cwd=settings.PROJECT_ROOT,
    )
    line = next((x for x in proc.stdout.splitlines() if x.startswith("BENCH ")), None)
    if proc.returncode != 0 or line is None:
        print(proc.stdout[-3000:], proc.stderr[-3000:], sep="\n")
        return None
    return json.loads(line.removeprefix("BENCH "))


def _replay_line(stage_seconds: float, replayed: dict) -> str:
    """The stage against DuckDB alone running the same SQL, plus dbt's timing of what is not
    SQL (Python models, seeds): the ratio is what dbt, Dagster and start-ups add."""
    alone = replayed["duckdb_seconds"] + replayed["other_seconds"]
    return (
        f"{'':<11} dbt's SQL run by DuckDB alone: {replayed['duckdb_seconds']:.1f} s for "
        f"{replayed['sql_nodes']} models and tests (dbt timed them "
        f"{replayed['dbt_seconds']:.1f} s), plus {replayed['other_seconds']:.1f} s of Python "
        f"models and seeds; stage / that: {stage_seconds / alone:.1f}x "
        f"({replayed['invocations']} dbt invocation(s), {replayed['dbt_elapsed_seconds']:.1f} s)"
        if alone
        else f"{'':<11} no dbt invocation found to replay"
    )


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--customers", type=int, default=10_000)
    parser.add_argument("--seed", type=int, default=42)
    parser.add_argument("--until", choices=STAGES, default=STAGES[-1], help="last stage to run")
    args = parser.parse_args()
    root = settings.data_dir() / "bench" / str(args.customers)
    shutil.rmtree(root, ignore_errors=True)
    root.mkdir(parents=True)
    env = {
        **os.environ,
        **settings.TELEMETRY_OFF,
        "MAILPIPE_DATA_DIR": str(root),
        "MAILPIPE_WAREHOUSE_PATH": str(root / "warehouse.duckdb"),
        "MLFLOW_TRACKING_URI": f"sqlite:///{root / 'mlflow.db'}",
        "MAILPIPE_MLFLOW_ARTIFACTS_DIR": str(root / "mlruns"),
        "MAILPIPE_GX_CONTEXT_DIR": str(root / "great_expectations"),
        # The generated history ends in the past: judge freshness against its newest event.
        "MAILPIPE_AS_OF": "latest",
    }
    print(f"Benchmark: {args.customers:,} customers, seed {args.seed}, data in {root}")
    print(
        f"{'stage':<11} {'wall s':>8} {'peak RSS MB':>12} {'child RSS MB':>13} "
        f"{'all RSS MB':>11} {'rows/s':>10}  rows"
    )
    total = time.perf_counter()
    reports = []
    scale = ["--customers", str(args.customers), "--seed", str(args.seed)]
    for stage in STAGES[: STAGES.index(args.until) + 1]:
        started_at = time.time()
        report = _run_module("bench.stage", [stage, *scale], env)
        if report is None:
            print(f"stage {stage} failed")
            return 1
        reports.append(report)
        rows = ", ".join(f"{k}={v:,}" for k, v in list(report["rows"].items())[:6])
        per_second = _landing_rows(report) / report["seconds"] if stage in LANDING_STAGES else None
        print(
            f"{stage:<11} {report['seconds']:>8.1f} {report['peak_rss_mb']:>12.0f} "
            f"{report['peak_child_rss_mb']:>13.0f} {report['peak_tree_rss_mb']:>11.0f} "
            f"{f'{per_second:,.0f}' if per_second else '':>10}  {rows}"
        )
        if report.get("steps"):
            slowest = list(report["steps"].items())[:STEPS_SHOWN]
            print(f"{'':<11} slowest steps: " + ", ".join(f"{k} {v:.1f} s" for k, v in slowest))
        if stage == "duckdb_read":
            load = next(r for r in reports if r["stage"] == "load")
            print(
                f"{'':<11} load / DuckDB's own read of the same files: "
                f"{load['seconds'] / report['seconds']:.1f}x time, "
                f"{load['peak_rss_mb'] / report['peak_rss_mb']:.1f}x peak memory"
            )
        if stage in DBT_STAGES:
            replayed = _run_module("bench.sql_replay", ["--since", str(started_at)], env)
            if replayed is None:
                print(f"replaying stage {stage}'s dbt SQL failed")
                return 1
            report["sql_replay"] = replayed
            print(_replay_line(report["seconds"], replayed))
    print(f"{'total':<10} {time.perf_counter() - total:>8.1f}")
    (root / "bench.json").write_text(
        json.dumps({"customers": args.customers, "stages": reports}, indent=2)
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
