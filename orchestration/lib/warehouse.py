"""Reads and writes between the warehouse and the libraries (ml/, email_render/)."""

from __future__ import annotations

import re

import duckdb
import pandas as pd

EMAIL = re.compile(r"([A-Za-z0-9._%+-])[A-Za-z0-9._%+-]*@([A-Za-z0-9.-]+)")
PHONE = re.compile(r"\+?\d[\d ()-]{6,}\d")


def as_of(conn: duckdb.DuckDBPyConnection) -> pd.Timestamp:
    return pd.Timestamp(conn.execute("select as_of_at from marts.pipeline_as_of").fetchall()[0][0])


ORDERS_SQL = "select person_id, ordered_at, cast(total_amount_eur as double) as total_amount_eur from marts.fct_orders"


def read_orders(conn: duckdb.DuckDBPyConnection) -> pd.DataFrame:
    return conn.execute(ORDERS_SQL).df()


FACT_QUERIES = {
    "email_events": "select person_id, event_type, occurred_at from marts.fct_email_events",
    "web_events": "select person_id, event_type, session_id, product_id, occurred_at from marts.fct_web_events",
    "order_items": "select person_id, product_id, category, quantity, ordered_at from marts.fct_order_items",
}


def read_facts(
    conn: duckdb.DuckDBPyConnection, tables=("orders", *FACT_QUERIES)
) -> dict[str, pd.DataFrame]:
    """The facts the models learn from, as DataFrames keyed by name."""
    return {
        name: read_orders(conn) if name == "orders" else conn.execute(FACT_QUERIES[name]).df()
        for name in tables
    }


FIRST_SEEN_SQL = """
        select person_id, min(seen_at) as first_seen_at from (
            select person_id, ordered_at as seen_at from marts.fct_orders
            union all select person_id, occurred_at from marts.fct_web_events
            union all select person_id, occurred_at from marts.fct_email_events
            union all
            select links.person_id, crm.signup_at
            from marts.identity_links as links
            join staging.stg_crm__customers as crm
                on links.source_table = 'crm_customers' and links.record_id = crm.customer_id
        ) group by person_id
"""
# What the feature query reads, straight from the marts (see ml.features.RELATIONS).
FEATURE_RELATIONS = {
    "first_seen": f"({FIRST_SEEN_SQL})",
    "orders": f"({ORDERS_SQL})",
    "email_events": f"({FACT_QUERIES['email_events']})",
    "web_events": f"({FACT_QUERIES['web_events']})",
}


def first_seen(conn: duckdb.DuckDBPyConnection) -> pd.Series:
    """When each person first appeared in any source: the population at a cutoff."""
    return conn.execute(FIRST_SEEN_SQL).df().set_index("person_id")["first_seen_at"]


def replace_table(
    conn: duckdb.DuckDBPyConnection, schema: str, name: str, frame: pd.DataFrame
) -> int:
    conn.execute(f"create schema if not exists {schema}")
    conn.register("_frame", frame)
    conn.execute(f"create or replace table {schema}.{name} as select * from _frame")
    conn.unregister("_frame")
    return len(frame)


def previous_row_count(conn: duckdb.DuckDBPyConnection, name: str) -> int | None:
    """The row count the last validation of `name` saw, then record today's."""
    conn.execute("create schema if not exists quality")
    conn.execute(
        "create table if not exists quality.row_count_history (name varchar, counted_at timestamp, row_count bigint)"
    )
    row = conn.execute(
        "select row_count from quality.row_count_history where name = ? order by counted_at desc limit 1",
        [name],
    ).fetchall()
    return row[0][0] if row else None


def record_row_count(conn: duckdb.DuckDBPyConnection, name: str, rows: int) -> None:
    conn.execute(
        "insert into quality.row_count_history values (?, current_timestamp, ?)", [name, rows]
    )


def mask(value: object) -> object:
    """Keep personal data out of the UI: j***@example.com, phones to their last digits."""
    if not isinstance(value, str):
        return value
    value = EMAIL.sub(lambda m: f"{m.group(1)}***@{m.group(2)}", value)
    return PHONE.sub(lambda m: "***" + m.group(0)[-2:], value)


def preview_markdown(frame: pd.DataFrame, rows: int = 10) -> str:
    return frame.head(rows).map(mask).to_markdown(index=False)
