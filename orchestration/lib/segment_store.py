"""Materialize segment membership: who is in each segment, since when, and how sizes move."""

from __future__ import annotations

import duckdb
import pandas as pd

from orchestration.lib.segments import Segment, compile_segments

BASE = "segment_base"


def create_base(conn: duckdb.DuckDBPyConnection) -> dict[str, str]:
    """The attributes rules can use: the customer view, scores included. Returns column types."""
    conn.execute(
        f"""
        create or replace temp view {BASE} as
        select * from marts.dim_customers
        """
    )
    return {row[0]: row[1] for row in conn.execute(f"describe {BASE}").fetchall()}


def materialize(
    conn: duckdb.DuckDBPyConnection, segments: list[Segment], as_of: pd.Timestamp
) -> pd.DataFrame:
    """Rewrite marts.customer_segments, keeping entered_at for people who stay in a segment,
    and record today's sizes in marts.segment_size_history. Returns the sizes."""
    compiled = compile_segments(segments, create_base(conn), BASE)
    conn.execute(
        """
        create table if not exists marts.customer_segments (
            person_id varchar not null, segment_name varchar not null, entered_at timestamp not null
        )
        """
    )
    conn.execute(
        """
        create table if not exists marts.segment_size_history (
            as_of_date date not null, segment_name varchar not null,
            members bigint not null, entered bigint not null, exited bigint not null
        )
        """
    )
    conn.execute(f"create or replace temp table current_members as {compiled.sql}", compiled.params)
    as_of_date = as_of.date()
    conn.execute("begin transaction")
    conn.execute(
        """
        create or replace temp table movements as
        select
            coalesce(c.segment_name, p.segment_name) as segment_name,
            count(c.person_id) as members,
            count(*) filter (where p.person_id is null) as entered,
            count(*) filter (where c.person_id is null) as exited
        from current_members as c
        full outer join marts.customer_segments as p
            on c.person_id = p.person_id and c.segment_name = p.segment_name
        group by 1
        """
    )
    conn.execute(
        """
        create or replace table marts.customer_segments as
        select c.person_id, c.segment_name, coalesce(p.entered_at, cast(? as timestamp)) as entered_at
        from current_members as c
        left join marts.customer_segments as p
            on c.person_id = p.person_id and c.segment_name = p.segment_name
        """,
        [as_of],
    )
    people = conn.execute("select count(*) from marts.dim_customers").fetchall()[0][0]
    sizes = pd.DataFrame(
        [
            {
                "segment_name": s.name,
                "owner": s.owner,
                "min_size": s.min_size,
                "max_members": int(s.max_share * people),
            }
            for s in segments
        ]
    )
    counted = conn.execute("select segment_name, members, entered, exited from movements").df()
    sizes = sizes.merge(counted, on="segment_name", how="left").fillna(
        {"members": 0, "entered": 0, "exited": 0}
    )
    sizes[["members", "entered", "exited"]] = sizes[["members", "entered", "exited"]].astype(int)
    sizes["share_of_people"] = sizes["members"] / max(1, people)
    # Every segment gets its row each day, empty ones included, so the history has no gaps.
    conn.execute("delete from marts.segment_size_history where as_of_date = ?", [as_of_date])
    conn.register("_sizes", sizes)
    conn.execute(
        "insert into marts.segment_size_history select ?, segment_name, members, entered, exited from _sizes",
        [as_of_date],
    )
    conn.unregister("_sizes")
    conn.execute("commit")
    return sizes
