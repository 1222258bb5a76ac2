"""The warehouse as every stage sees it: the as-of date, replacing a table with a frame, and
previews for the UI with personal data masked."""

from __future__ import annotations

import re

import duckdb
import pandas as pd

EMAIL = re.compile(r"([A-Za-z0-9._%+-])[A-Za-z0-9._%+-]*@([A-Za-z0-9.-]+)")
PHONE = re.compile(r"\+?\d[\d ()-]{6,}\d")


def as_of(conn: duckdb.DuckDBPyConnection) -> pd.Timestamp:
    return pd.Timestamp(conn.execute("select as_of_at from marts.pipeline_as_of").fetchall()[0][0])


def table_exists(conn: duckdb.DuckDBPyConnection, schema: str, table: str) -> bool:
    """Asked of the catalog: a failed query would abort the caller's open transaction."""
    return bool(
        conn.execute(
            "select count(*) from information_schema.tables where table_schema = ? and table_name = ?",
            [schema, table],
        ).fetchall()[0][0]
    )


def replace_table(
    conn: duckdb.DuckDBPyConnection, schema: str, name: str, frame: pd.DataFrame
) -> int:
    conn.execute(f"create schema if not exists {schema}")
    conn.register("_frame", frame)
    conn.execute(f"create or replace table {schema}.{name} as select * from _frame")
    conn.unregister("_frame")
    return len(frame)


def mask(value: object) -> object:
    """Keep personal data out of the UI: j***@example.com, phones to their last digits."""
    if not isinstance(value, str):
        return value
    value = EMAIL.sub(lambda m: f"{m.group(1)}***@{m.group(2)}", value)
    return PHONE.sub(lambda m: "***" + m.group(0)[-2:], value)


def preview_markdown(frame: pd.DataFrame, rows: int = 10) -> str:
    return frame.head(rows).map(mask).to_markdown(index=False)
