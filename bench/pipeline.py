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

STAGES = ["generate", "load", "models", "ml", "customer_view", "email"]


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--customers", type=int, default=10_000)
    parser.add_argument("--seed", type=int, default=42)
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
    }
    print(f"Benchmark: {args.customers:,} customers, seed {args.seed}, data in {root}")
    print(f"{'stage':<10} {'wall s':>8} {'peak RSS MB':>12} {'child RSS MB':>13}  rows")
    total = time.perf_counter()
    reports = []
    for stage in STAGES:
        cmd = [
            sys.executable,
            "-m",
            "bench.stage",
            stage,
            "--customers",
            str(args.customers),
            "--seed",
            str(args.seed),
        ]
        proc = subprocess.run(
            cmd, env=env, capture_output=True, text=True, cwd=settings.PROJECT_ROOT
        )
        line = next((x for x in proc.stdout.splitlines() if x.startswith("BENCH ")), None)
        if proc.returncode != 0 or line is None:
            print(proc.stdout[-3000:], proc.stderr[-3000:], sep="\n")
            print(f"stage {stage} failed")
            return 1
        report = json.loads(line.removeprefix("BENCH "))
        reports.append(report)
        rows = ", ".join(f"{k}={v:,}" for k, v in list(report["rows"].items())[:6])
        print(
            f"{stage:<10} {report['seconds']:>8.1f} {report['peak_rss_mb']:>12.0f} "
            f"{report['peak_child_rss_mb']:>13.0f}  {rows}"
        )
    print(f"{'total':<10} {time.perf_counter() - total:>8.1f}")
    (root / "bench.json").write_text(
        json.dumps({"customers": args.customers, "stages": reports}, indent=2)
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
