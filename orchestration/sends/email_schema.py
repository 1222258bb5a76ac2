"""The email schema's tables, declared in one place: the day's plans, exclusions, the send
ledger (keyed by campaign_id, person_id and send_date, so nothing is sent twice) and the
journeys' state."""

from __future__ import annotations

import duckdb

SEGMENT_BASE = "segment_base"


def ensure_tables(conn: duckdb.DuckDBPyConnection) -> None:
    conn.execute("create schema if not exists email")
    conn.execute(
        """
        create table if not exists email.send_plan (
            campaign_id varchar not null, send_date date not null, person_id varchar not null,
            variant varchar not null, batch_no integer, planned_at timestamp not null,
            primary key (campaign_id, send_date, person_id)
        )
        """
    )
    conn.execute(
        """
        create table if not exists email.send_exclusions (
            campaign_id varchar not null, send_date date not null, person_id varchar not null,
            reason varchar not null, primary key (campaign_id, send_date, person_id)
        )
        """
    )
    conn.execute(
        """
        create table if not exists email.send_ledger (
            campaign_id varchar not null, send_date date not null, person_id varchar not null,
            variant varchar not null, message_id varchar not null, exported_at timestamp not null,
            primary key (campaign_id, send_date, person_id)
        )
        """
    )
    conn.execute("alter table email.send_ledger add column if not exists delivered_at timestamp")
    conn.execute(
        """
        create table if not exists email.journey_state (
            journey_id varchar not null, person_id varchar not null, entry_key varchar not null,
            entered_at timestamp not null, next_step integer not null, status varchar not null,
            exit_reason varchar, updated_at timestamp not null,
            primary key (journey_id, person_id, entry_key)
        )
        """
    )


def create_segment_base(conn: duckdb.DuckDBPyConnection) -> dict[str, str]:
    """The attributes audience rules can use: the customer view, scores included. Returns
    column types, for the rule compiler to check names against."""
    conn.execute(f"create or replace temp view {SEGMENT_BASE} as select * from marts.dim_customers")
    return {row[0]: row[1] for row in conn.execute(f"describe {SEGMENT_BASE}").fetchall()}
