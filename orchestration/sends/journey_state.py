"""Triggered journeys, with their state in `email.journey_state`.

Each run (hourly, or with the daily pipeline) detects who enters a journey as of the as-of
date, ends journeys a purchase has made pointless, and sends every step that has come due:
the step's campaign through the usual guards, frequency caps, ledger and export. An entry is
keyed by what triggered it (the cart's session, the order, the signup), so a cart is
reminded about once however often the trigger runs.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime

import duckdb
import pandas as pd

from email_render.journeys import ALTERNATIVE, MAIN, Journey

# Who enters, as of $as_of: person_id, entry_key, entered_at.
ENTRIES_SQL = {
    # An add-to-cart an hour or more ago with no order by the person since.
    "cart_abandoned": """
        with carts as (
            select person_id, session_id as entry_key, min(occurred_at) as first_added_at,
                max(occurred_at) as entered_at
            from marts.fct_web_events
            where event_type = 'add_to_cart' and session_id is not null
                and occurred_at > $as_of - interval 1 day
            group by person_id, session_id
        )
        select c.person_id, c.entry_key, c.entered_at from carts as c
        where c.entered_at <= $as_of - interval 1 hour
            and not exists (
                select 1 from marts.fct_orders as o
                where o.person_id = c.person_id and o.ordered_at >= c.first_added_at
                    and o.ordered_at <= $as_of
            )
    """,
    # Two or more product views in a session an hour or more ago, nothing carted or bought.
    "browse_abandoned": """
        with sessions as (
            select person_id, session_id as entry_key, min(occurred_at) as started_at,
                max(occurred_at) as entered_at,
                count(*) filter (where event_type = 'product_view') as views,
                count(*) filter (where event_type = 'add_to_cart') as cart_adds
            from marts.fct_web_events
            where session_id is not null and occurred_at > $as_of - interval 1 day
                and occurred_at <= $as_of
            group by person_id, session_id
        )
        select s.person_id, s.entry_key, s.entered_at from sessions as s
        where s.views >= 2 and s.cart_adds = 0 and s.entered_at <= $as_of - interval 1 hour
            and not exists (
                select 1 from marts.fct_orders as o
                where o.person_id = s.person_id and o.ordered_at >= s.started_at
                    and o.ordered_at <= $as_of
            )
    """,
    "order_placed": """
        select person_id, order_id as entry_key, ordered_at as entered_at
        from marts.fct_orders
        where ordered_at > $as_of - interval 7 day and ordered_at <= $as_of
    """,
    "signed_up": """
        select person_id, 'signup' as entry_key, signed_up_at as entered_at
        from marts.dim_customers
        where signed_up_at > $as_of - interval 31 day and signed_up_at <= $as_of
    """,
}


@dataclass
class JourneyRun:
    journey_id: str
    entered: int = 0
    exited_by_purchase: int = 0
    due: dict[str, int] = field(default_factory=dict)
    planned: dict[str, int] = field(default_factory=dict)
    completed: int = 0


def enter(conn: duckdb.DuckDBPyConnection, journey: Journey, as_of: datetime) -> int:
    """Record newcomers; someone already on the journey for the same entry is left alone."""
    before = _count(conn, journey)
    conn.execute(
        f"""
        insert or ignore into email.journey_state
        select ?, e.person_id, cast(e.entry_key as varchar), e.entered_at, 0, 'active', null,
            current_timestamp
        from ({ENTRIES_SQL[journey.trigger]}) as e
        where e.person_id is not null
        """.replace("$as_of", "cast(? as timestamp)"),
        [journey.journey_id, *[as_of] * ENTRIES_SQL[journey.trigger].count("$as_of")],
    )
    return _count(conn, journey) - before


def _count(conn, journey: Journey) -> int:
    return conn.execute(
        "select count(*) from email.journey_state where journey_id = ?", [journey.journey_id]
    ).fetchall()[0][0]


def exit_buyers(conn: duckdb.DuckDBPyConnection, journey: Journey, as_of: datetime) -> int:
    """A purchase after entering ends the journey (for a post-purchase journey: another one)."""
    if not journey.exit_on_purchase:
        return 0
    same_order = "and o.order_id <> s.entry_key" if journey.trigger == "order_placed" else ""
    rows = conn.execute(
        f"""
        update email.journey_state as s
        set status = 'exited', exit_reason = 'purchased', updated_at = current_timestamp
        where s.journey_id = ? and s.status = 'active'
            and exists (
                select 1 from marts.fct_orders as o
                where o.person_id = s.person_id and o.ordered_at > s.entered_at
                    and o.ordered_at <= ? {same_order}
            )
        """,
        [journey.journey_id, as_of],
    ).fetchall()
    return int(rows[0][0]) if rows else 0


def due(
    conn: duckdb.DuckDBPyConnection, journey: Journey, step_index: int, as_of: datetime
) -> pd.DataFrame:
    """person_id and variant of everyone whose step `step_index` has come due. The decision
    point: who opened the previous step's email but clicked nothing gets the alternative."""
    step = journey.steps[step_index]
    previous = journey.steps[step_index - 1].campaign.campaign_id if step_index else None
    frame = conn.execute(
        """
        select s.person_id,
            coalesce(bool_or(e.event_type = 'open'), false) as opened,
            coalesce(bool_or(e.event_type = 'click'), false) as clicked
        from email.journey_state as s
        left join marts.fct_email_events as e
            on e.person_id = s.person_id and e.campaign_id = ? and e.occurred_at >= s.entered_at
        where s.journey_id = ? and s.status = 'active' and s.next_step = ?
            and s.entered_at + to_milliseconds(cast(? * 3600000 as bigint)) <= ?
        group by s.person_id
        order by s.person_id
        """,
        [previous, journey.journey_id, step_index, step.after_hours, as_of],
    ).df()
    frame["variant"] = [
        ALTERNATIVE if opened and not clicked else MAIN
        for opened, clicked in zip(frame["opened"], frame["clicked"], strict=True)
    ]
    return frame[["person_id", "variant"]]


def advance(
    conn: duckdb.DuckDBPyConnection, journey: Journey, step_index: int, send_date
) -> tuple[int, int]:
    """After a step's export: who is in its ledger moves on (or completes); who a guard
    other than a frequency cap excluded leaves the journey. Capped people wait a day."""
    step = journey.steps[step_index]
    last = step_index == len(journey.steps) - 1
    moved = conn.execute(
        """
        update email.journey_state as s
        set next_step = s.next_step + 1,
            status = case when ? then 'completed' else 'active' end,
            updated_at = current_timestamp
        where s.journey_id = ? and s.status = 'active' and s.next_step = ?
            and exists (
                select 1 from email.send_ledger as l
                where l.campaign_id = ? and l.person_id = s.person_id
            )
        """,
        [last, journey.journey_id, step_index, step.campaign.campaign_id],
    ).fetchall()
    left = conn.execute(
        """
        update email.journey_state as s
        set status = 'exited', exit_reason = x.reason, updated_at = current_timestamp
        from email.send_exclusions as x
        where x.campaign_id = ? and x.send_date = ? and x.person_id = s.person_id
            and x.reason not like 'frequency_cap%'
            and s.journey_id = ? and s.status = 'active' and s.next_step = ?
        """,
        [step.campaign.campaign_id, send_date, journey.journey_id, step_index],
    ).fetchall()
    return (int(moved[0][0]) if moved else 0), (int(left[0][0]) if left else 0)
