"""Retention: events older than the retention period are deleted, and what went is logged."""

from __future__ import annotations

from datetime import datetime

import duckdb
import pandas as pd

from orchestration.privacy.privacy_tables import SCHEMA, delete_counted, ensure_tables
from orchestration.warehouse import table_exists

RETAINED_EVENT_TABLES = {
    "raw.web_events": "occurred_at",
    "raw.esp_email_events": "occurred_at",
    "marts.fct_web_events": "occurred_at",
    "marts.fct_email_events": "occurred_at",
}


def purge_expired(
    conn: duckdb.DuckDBPyConnection,
    as_of: datetime,
    retention_days: int,
    now: datetime | None = None,
) -> dict[str, int]:
    """Delete raw and modeled events older than the retention period; record what went."""
    ensure_tables(conn)
    cutoff = pd.Timestamp(as_of) - pd.Timedelta(days=retention_days)
    removed = {}
    for table, column in RETAINED_EVENT_TABLES.items():
        schema, name = table.split(".")
        if not table_exists(conn, schema, name):
            continue
        removed[table] = delete_counted(conn, table, f"{column} < ?", [cutoff.to_pydatetime()])
        conn.execute(
            f"insert into {SCHEMA}.retention_log values (?, ?, ?, ?, ?)",
            [table, retention_days, cutoff.to_pydatetime(), removed[table], now or datetime.now()],
        )
    return removed
