"""The email schema's tables, declared in one place: the day's plans, exclusions, the send
ledger (keyed by campaign_id, person_id and send_date, so nothing is sent twice) and the
journeys' state."""

from __future__ import annotations

import re

import duckdb

from orchestration.warehouse import table_exists

SEGMENT_BASE = "segment_base"
# Each table keyed by person, with the rest of its key: a merged person's rows move to the
# survivor unless the survivor already has that row (then both stay, as history).
PERSON_KEYED = {
    "send_ledger": ("campaign_id", "send_date"),
    "send_plan": ("campaign_id", "send_date"),
    "send_exclusions": ("campaign_id", "send_date"),
    "journey_state": ("journey_id", "entry_key"),
}


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
    # What each person was when assigned, for experiment breakdowns that the campaign's own
    # effect cannot move (a converter would be `active` by the as-of date).
    for column, kind in (
        ("lifecycle_stage", "varchar"),
        ("rfm_segment", "varchar"),
        ("segments", "varchar[]"),
    ):
        conn.execute(f"alter table email.send_plan add column if not exists {column} {kind}")
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


def follow_identity_merges(conn: duckdb.DuckDBPyConnection) -> dict[str, int]:
    """Move the send history of people merged into earlier ones (marts.identity_merges,
    chains followed to their end) to the survivor, so caps, journeys and the exactly-once
    ledger see one person. Idempotent; returns rows moved per table."""
    if not table_exists(conn, "marts", "identity_merges"):
        return {}
    conn.execute(
        """
        create or replace temp table merged_people as
        with recursive chain (merged_person_id, person_id, depth) as (
            select merged_person_id, surviving_person_id, 1 from marts.identity_merges
            union all
            select chain.merged_person_id, merges.surviving_person_id, chain.depth + 1
            from chain
            inner join marts.identity_merges as merges
                on chain.person_id = merges.merged_person_id
            where chain.depth < 1000
        )
        select merged_person_id, arg_max(person_id, depth) as person_id
        from chain group by merged_person_id
        """
    )
    moved = {}
    for table, key in PERSON_KEYED.items():
        same_key = " and ".join(f"kept.{column} = t.{column}" for column in key)
        moved[table] = conn.execute(
            f"""
            update email.{table} as t set person_id = m.person_id
            from merged_people as m
            where t.person_id = m.merged_person_id
                and not exists (
                    select 1 from email.{table} as kept
                    where kept.person_id = m.person_id and {same_key}
                )
            """
        ).fetchone()[0]
    return moved


def create_segment_base(conn: duckdb.DuckDBPyConnection) -> dict[str, str]:
    """The attributes audience rules can use: the customer view, scores included. Returns
    column types, for the rule compiler to check names against."""
    conn.execute(f"create or replace temp view {SEGMENT_BASE} as select * from marts.dim_customers")
    return {row[0]: row[1] for row in conn.execute(f"describe {SEGMENT_BASE}").fetchall()}


def audience_fields(conn: duckdb.DuckDBPyConnection) -> tuple[set[str], dict[str, set[str]]]:
    """What a template may use from `email.send_audience`: its columns, and for each column
    that is a list of items (products, cart items) the fields of an item."""
    fields, items = set(), {}
    for name, kind, *_ in conn.execute("describe email.send_audience").fetchall():
        fields.add(name)
        struct = re.fullmatch(r"STRUCT\((.*)\)\[\]", kind)
        if struct:
            # Top-level fields only: a nested type's own fields sit inside parentheses.
            depth, part, parts = 0, "", []
            for char in struct.group(1):
                depth += (char == "(") - (char == ")")
                if char == "," and depth == 0:
                    parts.append(part)
                    part = ""
                else:
                    part += char
            parts.append(part)
            items[name] = {p.strip().split(" ", 1)[0].strip('"') for p in parts}
    return fields, items
