"""Plan a campaign's sends for a day, once: who is in the audience, who the guards keep out
and why, and each person's variant or holdout and batch.

The plan is stored in email.send_plan and reused by reruns, so the same people fall in the
same batches. Guards run in SQL: no marketing consent, unsubscribed, complained,
hard-bounced, suppressed, invalid email, and frequency caps (default 1 marketing email per
day and 3 per 7 days, counting our ledger and the email service's history). Every excluded
person is recorded in email.send_exclusions with the reason.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, date, datetime

import duckdb
import pandas as pd

from email_render.assignment import HOLDOUT, assignment_sql
from email_render.campaign import Campaign, CampaignError
from orchestration import settings, warehouse
from orchestration.privacy import identifiers, privacy_tables
from orchestration.segments.rules import Segment, compile_condition, declared_values
from orchestration.sends import email_schema

BATCH_SIZE = 1_000


@dataclass(frozen=True)
class FrequencyCaps:
    per_day: int = 1
    per_week: int = 3
    # Each campaign's priority by id (journey steps included); any other mail sent, such as
    # the email service's own history, is priority 0. A send is held back only by mail of
    # its own priority or higher.
    priorities: tuple[tuple[str, int], ...] = ()

    @classmethod
    def from_settings(cls, campaigns=()) -> FrequencyCaps:
        per_day, per_week = settings.frequency_caps()
        priorities = tuple((c.campaign_id, c.priority) for c in campaigns)
        return cls(per_day=per_day, per_week=per_week, priorities=priorities)


GUARD_REASONS = """
    case
        when not c.has_marketing_consent then 'no_marketing_consent'
        when c.is_unsubscribed then 'unsubscribed'
        when c.has_complained then 'complained'
        when c.has_hard_bounced then 'hard_bounced'
        when suppressed.email_hash is not null then 'suppressed'
        when not c.is_email_valid then 'invalid_email'
        when coalesce(f.sends_today, 0) >= ? then 'frequency_cap_day'
        when coalesce(f.sends_this_week, 0) >= ? then 'frequency_cap_week'
    end
"""


def plan(
    conn: duckdb.DuckDBPyConnection,
    campaign: Campaign,
    send_date: date,
    caps: FrequencyCaps,
    library: list[Segment] = (),
    batch_size: int = BATCH_SIZE,
) -> bool:
    """Store today's plan and exclusions for the campaign, unless they exist. True if new."""
    email_schema.ensure_tables(conn)
    privacy_tables.ensure_tables(conn)
    exists = conn.execute(
        "select count(*) from email.send_plan where campaign_id = ? and send_date = ?",
        [campaign.campaign_id, send_date],
    ).fetchall()[0][0]
    if exists:
        return False
    _select_audience(conn, campaign, library)
    _guard_and_store(conn, campaign, send_date, caps, batch_size)
    return True


def count(
    conn: duckdb.DuckDBPyConnection,
    campaign: Campaign,
    send_date: date,
    caps: FrequencyCaps,
    library: list[Segment] = (),
) -> dict[str, int]:
    """How many of the campaign's audience would be mailed on `send_date`, held out, or
    left out and why (consent, bounces, the frequency caps...), storing nothing: the same
    guards as `plan`, on a read-only connection too."""
    _select_audience(conn, campaign, library)
    _guard(conn, campaign, send_date, caps, incremental=False)
    rows = conn.execute(
        f"""
        select coalesce(reason, case when variant = '{HOLDOUT}' then 'held_out' else 'mailed' end),
            count(*)
        from guarded group by 1 order by 2 desc
        """
    ).fetchall()
    for table in ("guarded", "recent_sends", "audience"):
        conn.execute(f"drop table {table}")
    return dict(rows)


def audience_for_preview(
    conn: duckdb.DuckDBPyConnection,
    campaign: Campaign,
    send_date: date,
    caps: FrequencyCaps,
    library: list[Segment] = (),
) -> None:
    """The temp table `preview_people`: who the campaign would mail on `send_date`, or, if
    the guards leave no one, everyone its rule selects (a preview needs someone)."""
    _select_audience(conn, campaign, library)
    _guard(conn, campaign, send_date, caps, incremental=False)
    conn.execute(
        f"create or replace temp table preview_people as select person_id from guarded"
        f" where reason is null and variant <> '{HOLDOUT}'"
    )
    if not conn.execute("select count(*) from preview_people").fetchall()[0][0]:
        conn.execute(
            "create or replace temp table preview_people as select person_id from audience"
        )
    for table in ("guarded", "recent_sends", "audience"):
        conn.execute(f"drop table {table}")


def audience_condition(
    conn: duckdb.DuckDBPyConnection, campaign: Campaign, library
) -> tuple[str, list]:
    """The campaign's audience rule as SQL over the segment base, checked against the
    customer view: an unknown field, segment or value is an error naming the file, on any
    day, not only the day the campaign is due."""
    columns = email_schema.create_segment_base(conn)
    as_of = (
        warehouse.as_of(conn).to_pydatetime()
        if warehouse.table_exists(conn, "marts", "pipeline_as_of")
        else None
    )
    return compile_condition(
        campaign.audience,
        columns,
        list(library),
        campaign.source_path,
        f"campaign '{campaign.campaign_id}'",
        "audience",
        declared_values(settings.dbt_project_dir() / "models"),
        as_of,
    )


def _select_audience(conn: duckdb.DuckDBPyConnection, campaign: Campaign, library) -> None:
    """The temp table `audience`: everyone the campaign's rule selects, before any guard."""
    if campaign.audience:
        condition, params = audience_condition(conn, campaign, library)
    else:
        email_schema.create_segment_base(conn)
        condition, params = "true", []
    conn.execute(
        f"create or replace temp table audience as select person_id from {email_schema.SEGMENT_BASE}"
        f" where coalesce({condition}, false)",
        params,
    )


def drop_unsent_plan(conn: duckdb.DuckDBPyConnection, campaign_id: str, send_date: date) -> bool:
    """Forget a day's plan of which nothing was exported, so that a fixed campaign is planned
    afresh; a plan with sends in the ledger stays, for the rerun to finish. True if dropped."""
    key = [campaign_id, send_date]
    sent = conn.execute(
        "select count(*) from email.send_ledger where campaign_id = ? and send_date = ?", key
    ).fetchall()[0][0]
    if sent:
        return False
    for table in ("send_plan", "send_exclusions"):
        conn.execute(f"delete from email.{table} where campaign_id = ? and send_date = ?", key)
    return True


def check_frozen_plan(conn: duckdb.DuckDBPyConnection, campaign: Campaign, send_date: date) -> None:
    """Fail, saying what to do, if the day's frozen plan uses a variant the campaign file no
    longer has (edited after planning): rendering it would be guesswork."""
    key = [campaign.campaign_id, send_date]
    planned = {
        row[0]
        for row in conn.execute(
            "select distinct variant from email.send_plan where campaign_id = ? and send_date = ?",
            key,
        ).fetchall()
    }
    missing = sorted(planned - {v.name for v in campaign.variants} - {HOLDOUT})
    if not missing:
        return
    sent = conn.execute(
        "select count(*) from email.send_ledger where campaign_id = ? and send_date = ?", key
    ).fetchall()[0][0]
    names = ", ".join(repr(m) for m in missing)
    if sent:
        advice = (
            f"{sent:,} of its sends were exported already, so the plan stays: put the"
            " variant back to finish the day; the next day's plan follows the file"
        )
    else:
        advice = "nothing was exported yet, so the plan is dropped and the next run plans afresh"
    raise CampaignError(
        f"{campaign.source_path}: field 'variants': the plan for {send_date} was made with"
        f" variant {names}, which the file no longer has; {advice}"
    )


def plan_people(
    conn: duckdb.DuckDBPyConnection,
    campaign: Campaign,
    send_date: date,
    caps: FrequencyCaps,
    people: pd.DataFrame,
    batch_size: int = BATCH_SIZE,
) -> int:
    """Add `people` (person_id, variant) to the day's plan of a triggered campaign, through
    the same guards; people already planned or excluded today are left as they are, so a
    trigger that fires every hour adds only the newcomers. Returns how many were added."""
    email_schema.ensure_tables(conn)
    privacy_tables.ensure_tables(conn)
    conn.register("_people", people[["person_id", "variant"]])
    conn.execute(
        """
        create or replace temp table audience as
        select p.person_id, p.variant from _people as p
        where not exists (
            select 1 from email.send_plan as s
            where s.campaign_id = ? and s.send_date = ? and s.person_id = p.person_id
        ) and not exists (
            select 1 from email.send_exclusions as e
            where e.campaign_id = ? and e.send_date = ? and e.person_id = p.person_id
        )
        """,
        [campaign.campaign_id, send_date, campaign.campaign_id, send_date],
    )
    conn.unregister("_people")
    first_batch = conn.execute(
        "select coalesce(max(batch_no) + 1, 0) from email.send_plan"
        " where campaign_id = ? and send_date = ?",
        [campaign.campaign_id, send_date],
    ).fetchall()[0][0]
    return _guard_and_store(
        conn, campaign, send_date, caps, batch_size, int(first_batch), incremental=True
    )


def _guard_and_store(
    conn: duckdb.DuckDBPyConnection,
    campaign: Campaign,
    send_date: date,
    caps: FrequencyCaps,
    batch_size: int,
    first_batch: int = 0,
    incremental: bool = False,
) -> int:
    """Guard the people in the temp table `audience` and store the plan and exclusions, all
    inside the warehouse, so no audience is held in Python. Returns how many were planned.

    A campaign's whole audience gets the campaign's deterministic assignment and replaces
    the day's exclusions; an incremental plan (a trigger's newcomers) brings its variants in
    `audience.variant` and adds to the exclusions."""
    _guard(conn, campaign, send_date, caps, incremental)
    key = [campaign.campaign_id, send_date]
    conn.execute("begin transaction")
    try:
        # Batches are cut from the people who are mailed, in person_id order, so a batch is
        # the same on every rerun.
        planned = conn.execute(
            f"""
            insert into email.send_plan (
                campaign_id, send_date, person_id, variant, batch_no, planned_at,
                lifecycle_stage, rfm_segment, segments
            )
            select ?, ?, guarded.person_id, guarded.variant,
                case when guarded.variant <> '{HOLDOUT}' then ? + (row_number() over (
                    partition by guarded.variant = '{HOLDOUT}' order by guarded.person_id
                ) - 1) // ? end,
                ?,
                {_AT_ASSIGNMENT}
            from guarded
            {_at_assignment_joins(conn)}
            where guarded.reason is null
            """,
            [*key, first_batch, batch_size, datetime.now(UTC).replace(tzinfo=None)],
        ).fetchall()[0][0]
        if not incremental:
            conn.execute(
                "delete from email.send_exclusions where campaign_id = ? and send_date = ?", key
            )
        conn.execute(
            "insert into email.send_exclusions"
            " select ?, ?, person_id, reason from guarded where reason is not null",
            key,
        )
        conn.execute("commit")
    except Exception:
        conn.execute("rollback")
        raise
    for table in ("guarded", "recent_sends", "audience"):
        conn.execute(f"drop table {table}")  # temp tables live in memory until dropped
    return planned


# Frozen with each plan row: what the person was when assigned (see email_schema).
_AT_ASSIGNMENT = "people.lifecycle_stage, people.rfm_segment, memberships.segments"


def _at_assignment_joins(conn: duckdb.DuckDBPyConnection) -> str:
    """Joins that bring each guarded person's stage, RFM segment and segments, as far as the
    customer view has them (a warehouse built by hand may have fewer columns, or none)."""
    present = {
        row[0]
        for row in conn.execute(
            "select column_name from information_schema.columns"
            " where table_schema = 'marts' and table_name = 'dim_customers'"
        ).fetchall()
    }
    columns = ", ".join(
        column if column in present else f"null::varchar as {column}"
        for column in ("lifecycle_stage", "rfm_segment")
    )
    people = (
        f"select person_id, {columns} from marts.dim_customers"
        if "person_id" in present
        else "select null::varchar as person_id, null::varchar as lifecycle_stage,"
        " null::varchar as rfm_segment where false"
    )
    memberships = (
        "select person_id, list(segment_name order by segment_name) as segments"
        " from marts.customer_segments group by person_id"
        if warehouse.table_exists(conn, "marts", "customer_segments")
        else "select null::varchar as person_id, null::varchar[] as segments where false"
    )
    return (
        f"left join ({people}) as people on guarded.person_id = people.person_id"
        f" left join ({memberships}) as memberships"
        " on guarded.person_id = memberships.person_id"
    )


def _guard(
    conn: duckdb.DuckDBPyConnection,
    campaign: Campaign,
    send_date: date,
    caps: FrequencyCaps,
    incremental: bool,
) -> None:
    """The temp table `guarded`: each of `audience` with the reason they may not be mailed
    (null if they may) and their variant."""
    priorities = dict(caps.priorities)
    conn.execute(
        """
        create or replace temp table recent_sends as
        select person_id, campaign_id, cast(sent_at as date) as sent_on from (
            select person_id, campaign_id, send_date as sent_at from email.send_ledger
            union
            select person_id, campaign_id, cast(occurred_at as date) from marts.fct_email_events
            where event_type = 'sent'
        ) as sent
        where sent_on between ? - interval 6 day and ? and not (campaign_id = ? and sent_on = ?)
            and coalesce(
                map_extract_value(?::map(varchar, integer), campaign_id), 0
            ) >= ?
        """,
        [
            send_date,
            send_date,
            campaign.campaign_id,
            send_date,
            priorities,
            priorities.get(campaign.campaign_id, campaign.priority),
        ],
    )
    variant, variant_params = (
        ("a.variant", []) if incremental else assignment_sql(campaign, "a.person_id")
    )
    conn.execute(
        f"""
        create or replace temp table guarded as
        with frequency as (
            select
                person_id,
                count(distinct campaign_id) filter (where sent_on = ?) as sends_today,
                count(distinct (campaign_id, sent_on)) as sends_this_week
            from recent_sends group by person_id
        )
        select a.person_id, {GUARD_REASONS} as reason, {variant} as variant
        from audience as a
        join marts.dim_customers as c on a.person_id = c.person_id
        left join frequency as f on a.person_id = f.person_id
        left join privacy.suppression_list as suppressed
            on suppressed.email_hash = {identifiers.sql_hash("email", "c.email")}
        """,
        [send_date, caps.per_day, caps.per_week, *variant_params, identifiers.salt()],
    )
