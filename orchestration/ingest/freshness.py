"""How late each landing source is, against the clock or against a rerun's as-of date.

The web tracker is late by the age of its newest event or of its newest landing file,
whichever is older: a shop with visitors has web events every hour. The CRM, shop and email
service exports are late by the age of their newest file only, since their events pause
without anything being wrong: a day without signups or sends, a night (or, at a small shop,
a day) without orders. A rerun of history (a pinned as-of date, or `latest`) judges the
events only, and only those at or before its as-of date; files arriving later do not matter
to it.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path

import duckdb

from orchestration.ingest.landing import LANDING_TABLES
from orchestration.ingest.loader import landing_files

SOURCE_NAMES = {
    "crm": "CRM export",
    "web": "web events",
    "shop": "shop orders",
    "esp": "email service events",
}
# The raw column whose newest value says how current a source is, for the source whose
# events never pause for long. The others are judged on their files' arrival only.
EVENT_CLOCKS = {"web": ("web_events", "occurred_at")}
# What the as-of date of `latest` is computed from: every dated event of every source.
_EVENT_TIMES = {
    "web_events": ["occurred_at"],
    "shop_orders": ["ordered_at"],
    "esp_email_events": ["occurred_at"],
    "crm_customers": ["signup_at", "consent_updated_at"],
}


@dataclass(frozen=True)
class SourceLag:
    source: str
    limit_hours: float
    newest_event_at: datetime | None
    newest_file_at: datetime | None
    lag_hours: float | None  # None: nothing judged (absent, or no clock applies)

    @property
    def is_absent(self) -> bool:
        return self.newest_event_at is None and self.newest_file_at is None

    @property
    def is_stale(self) -> bool:
        return self.lag_hours is not None and self.lag_hours > self.limit_hours

    def describe(self) -> str:
        name = SOURCE_NAMES[self.source]
        if self.is_absent:
            return f"{name}: no data"
        if self.lag_hours is None:
            return f"{name}: not judged"
        state = "late" if self.is_stale else "fresh"
        return (
            f"{name} {_duration(self.lag_hours)} old, {state} (limit {_duration(self.limit_hours)})"
        )

    def as_metadata(self) -> dict:
        return {
            "lag_hours": round(self.lag_hours, 2) if self.lag_hours is not None else None,
            "limit_hours": self.limit_hours,
            "newest_event_at": _iso(self.newest_event_at),
            "newest_file_at": _iso(self.newest_file_at),
            "is_stale": self.is_stale,
        }


@dataclass(frozen=True)
class Freshness:
    mode: str
    reference_at: datetime
    sources: dict[str, SourceLag]

    def stale(self, needed: set[str] | frozenset[str]) -> list[SourceLag]:
        return [lag for name, lag in self.sources.items() if name in needed and lag.is_stale]

    def judged_against(self) -> str:
        at = self.reference_at.strftime("%Y-%m-%d %H:%M UTC")
        return {
            "clock": f"the clock ({at})",
            "as_of": f"the pinned as-of date ({at})",
            "latest": f"the newest event in the data ({at}, MAILPIPE_AS_OF=latest)",
        }[self.mode]


def _duration(hours: float) -> str:
    if hours >= 48:
        return f"{hours / 24:.1f} days"
    if hours >= 1:
        return f"{hours:.1f} hours"
    return f"{hours * 60:.0f} minutes"


def _iso(value: datetime | None) -> str | None:
    return value.isoformat(sep=" ", timespec="seconds") if value is not None else None


def _has_table(conn: duckdb.DuckDBPyConnection, name: str) -> bool:
    return bool(
        conn.execute(
            "select count(*) from information_schema.tables"
            " where table_schema = 'raw' and table_name = ?",
            [name],
        ).fetchall()[0][0]
    )


def _newest(conn, table: str, columns: list[str], until: datetime | None) -> datetime | None:
    if not _has_table(conn, table):
        return None
    bound = "" if until is None else " where {c} <= ?"
    values = []
    for column in columns:
        sql = f"select max({column}) from raw.{table}" + bound.format(c=column)
        values.append(conn.execute(sql, [until] if until is not None else []).fetchall()[0][0])
    values = [v for v in values if v is not None]
    return max(values) if values else None


def latest_event_at(conn: duckdb.DuckDBPyConnection) -> datetime | None:
    """The newest event time across the raw tables."""
    found = [_newest(conn, table, columns, None) for table, columns in _EVENT_TIMES.items()]
    found = [f for f in found if f is not None]
    return max(found) if found else None


def _newest_file_at(landing_dir: Path, source: str) -> datetime | None:
    times = [
        path.stat().st_mtime
        for table in LANDING_TABLES
        if table.source == source
        for path in landing_files(landing_dir, table)
    ]
    if not times:
        return None
    return datetime.fromtimestamp(max(times), UTC).replace(tzinfo=None)


def _hours(delta: timedelta) -> float:
    return max(delta.total_seconds() / 3600, 0.0)


def measure(
    conn: duckdb.DuckDBPyConnection,
    landing_dir: Path,
    mode: str,
    limits: dict[str, float],
    as_of: datetime | None = None,
    now: datetime | None = None,
) -> Freshness:
    """Each source's lag against the clock (`mode` "clock": `now`, default the current UTC
    time), a pinned as-of (`as_of`) or the newest event in the raw tables ("latest")."""
    if mode == "clock":
        reference = now or datetime.now(UTC).replace(tzinfo=None)
    elif mode == "as_of":
        if as_of is None:
            raise ValueError("an as-of freshness check needs its as-of date")
        reference = as_of
    else:
        reference = latest_event_at(conn) or datetime.now(UTC).replace(tzinfo=None)
    judge_files = mode == "clock"
    sources = {}
    for source, limit in limits.items():
        newest_file = _newest_file_at(landing_dir, source)
        newest_event = None
        lags = []
        if source in EVENT_CLOCKS:
            table, column = EVENT_CLOCKS[source]
            newest_event = _newest(conn, table, [column], reference)
            if newest_event is not None:
                lags.append(_hours(reference - newest_event))
        if judge_files and newest_file is not None:
            lags.append(_hours(reference - newest_file))
        sources[source] = SourceLag(
            source, limit, newest_event, newest_file, max(lags, default=None)
        )
    return Freshness(mode, reference, sources)
