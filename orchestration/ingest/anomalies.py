"""Load anomalies: a volume drop or a null-rate spike in a table's newest load, compared with
the loads before it. The figures go on the raw asset; a flag is a warning, not a stop."""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from datetime import datetime

from orchestration.ingest.landing import LandingTable
from orchestration.ingest.raw_schema import ensure_raw_schema

VOLUME_DROP = 0.5  # flag a load with fewer rows per file than half the usual
NULL_SPIKE_POINTS = 0.2  # flag a column whose null rate rose by 20 points or more
MIN_HISTORY = 1


@dataclass
class LoadProfile:
    table: str
    loaded_at: datetime
    files: int
    rows: int
    null_rates: dict[str, float]

    @property
    def rows_per_file(self) -> float:
        return self.rows / self.files if self.files else 0.0


@dataclass
class Anomalies:
    current: LoadProfile | None
    baseline_rows_per_file: float | None = None
    baseline_null_rates: dict[str, float] = field(default_factory=dict)
    flags: list[str] = field(default_factory=list)


def profile_load(conn, table: LandingTable, loaded_at: datetime, files: int) -> LoadProfile | None:
    """Profile the rows of `table` loaded at `loaded_at` and remember the profile."""
    ensure_raw_schema(conn)
    if files == 0:
        return None
    nulls = ", ".join(
        f"avg(case when {c.name} is null then 1.0 else 0.0 end) as {c.name}" for c in table.columns
    )
    cursor = conn.execute(
        f"select count(*), {nulls} from raw.{table.name} where _loaded_at = ?", [loaded_at]
    )
    row = cursor.fetchall()[0]
    rates = {c.name: float(v or 0.0) for c, v in zip(table.columns, row[1:], strict=True)}
    profile = LoadProfile(table.name, loaded_at, files, int(row[0]), rates)
    conn.execute(
        "insert into raw.load_profiles values (?, ?, ?, ?, ?)",
        [table.name, loaded_at, files, profile.rows, json.dumps(rates)],
    )
    return profile


def detect(conn, current: LoadProfile | None) -> Anomalies:
    """Compare the newest load with the loads before it."""
    result = Anomalies(current)
    if current is None:
        return result
    history = conn.execute(
        "select files, rows_loaded, null_rates from raw.load_profiles where source_table = ? and loaded_at < ?",
        [current.table, current.loaded_at],
    ).fetchall()
    if len(history) < MIN_HISTORY:
        return result
    files = sum(h[0] for h in history)
    rows = sum(h[1] for h in history)
    result.baseline_rows_per_file = rows / files if files else None
    for column in current.null_rates:
        weighted = sum(json.loads(h[2]).get(column, 0.0) * h[1] for h in history)
        result.baseline_null_rates[column] = weighted / rows if rows else 0.0
    if (
        result.baseline_rows_per_file
        and current.rows_per_file < VOLUME_DROP * result.baseline_rows_per_file
    ):
        result.flags.append(
            f"volume drop: {current.rows_per_file:,.0f} rows per file against "
            f"{result.baseline_rows_per_file:,.0f} in earlier loads"
        )
    for column, rate in current.null_rates.items():
        before = result.baseline_null_rates.get(column, 0.0)
        if rate - before >= NULL_SPIKE_POINTS:
            result.flags.append(
                f"null-rate spike in {column}: {rate:.0%} against {before:.0%} in earlier loads"
            )
    return result
