"""Plan, guard and export a campaign's sends exactly once.

- The plan of a campaign for a day is computed once and stored (email.send_plan): who is in
  the audience, their variant or the holdout, and their batch. Reruns reuse it, so the
  same people fall in the same batches.
- Guards run in SQL: no marketing consent, unsubscribed, complained, hard-bounced, invalid
  email, and frequency caps (default 1 marketing email per day and 3 per 7 days, counting
  our ledger and the email service's history). Every excluded person is recorded in
  email.send_exclusions with the reason.
- email.send_ledger, keyed by campaign_id, person_id and send_date, records each exported
  send. A batch writes its messages and its part file, then commits its ledger rows; after a
  crash the batch is redone with identical output, so nothing is sent twice or lost.
"""

from __future__ import annotations

import contextlib
import itertools
import multiprocessing
import os
import sys
import types
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, date, datetime
from pathlib import Path

import duckdb
import numpy as np
import pandas as pd
import pyarrow as pa

from email_render.assignment import HOLDOUT, assignment_sql
from email_render.batch import (
    RenderedBatch,
    init_worker,
    picklable,
    recipients,
    render_and_write,
    render_batch_in_worker,
)
from email_render.campaign import Campaign
from email_render.delivery import SmtpSettings, deliver
from email_render.export import (
    Upload,
    read_messages,
    render_send,
    write_previews,
)
from email_render.render import Renderer
from orchestration.lib import privacy, segment_store
from orchestration.lib.segments import Segment, compile_condition

BATCH_SIZE = 1_000
BATCHES_PER_READ = 8
# The planned sends of a campaign-day (two parameters) not yet in the ledger, with their
# audience rows.
PENDING_SENDS = """
    from email.send_plan as p
    join email.send_audience as a on p.person_id = a.person_id
    left join email.send_ledger as l
        on l.campaign_id = p.campaign_id and l.send_date = p.send_date
        and l.person_id = p.person_id
    where p.campaign_id = ? and p.send_date = ? and p.batch_no is not null
        and l.person_id is null
"""


@dataclass(frozen=True)
class FrequencyCaps:
    per_day: int = 1
    per_week: int = 3

    @classmethod
    def from_env(cls) -> FrequencyCaps:
        return cls(
            per_day=int(os.environ.get("MAILPIPE_CAP_PER_DAY", 1)),
            per_week=int(os.environ.get("MAILPIPE_CAP_PER_WEEK", 3)),
        )


@dataclass(frozen=True)
class CampaignRun:
    """One campaign's sends for one day: what to render, where to write, who sends."""

    campaign: Campaign
    renderer: Renderer
    send_date: date
    out_dir: Path
    recipient_extra: Callable[[dict], dict]
    sender: str
    domain: str


@dataclass
class ExportResult:
    campaign_id: str
    send_date: str
    planned: int = 0
    holdout: int = 0
    exported_now: int = 0
    already_exported: int = 0
    exclusions: dict[str, int] = field(default_factory=dict)
    upload_jsonl: Path | None = None
    upload_csv: Path | None = None
    previews: Path | None = None


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
    ensure_tables(conn)
    privacy.ensure_tables(conn)
    exists = conn.execute(
        "select count(*) from email.send_plan where campaign_id = ? and send_date = ?",
        [campaign.campaign_id, send_date],
    ).fetchall()[0][0]
    if exists:
        return False
    columns = segment_store.create_base(conn)
    if campaign.audience:
        condition, params = compile_condition(
            campaign.audience,
            columns,
            list(library),
            campaign.source_path,
            f"campaign '{campaign.campaign_id}'",
            "audience",
        )
        conn.execute(
            f"create or replace temp table audience as select person_id from {segment_store.BASE}"
            f" where coalesce({condition}, false)",
            params,
        )
    else:
        conn.execute(
            f"create or replace temp table audience as select person_id from {segment_store.BASE}"
        )
    _guard_and_store(conn, campaign, send_date, caps, batch_size)
    return True


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
    ensure_tables(conn)
    privacy.ensure_tables(conn)
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
    conn.execute(
        """
        create or replace temp table recent_sends as
        select person_id, campaign_id, cast(sent_at as date) as sent_on from (
            select person_id, campaign_id, send_date as sent_at from email.send_ledger
            union
            select person_id, campaign_id, cast(occurred_at as date) from marts.fct_email_events
            where event_type = 'sent'
        )
        where sent_on between ? - interval 6 day and ? and not (campaign_id = ? and sent_on = ?)
        """,
        [send_date, send_date, campaign.campaign_id, send_date],
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
            on suppressed.email_hash = {privacy.sql_hash("email", "c.email")}
        """,
        [send_date, caps.per_day, caps.per_week, *variant_params, privacy.salt()],
    )
    key = [campaign.campaign_id, send_date]
    conn.execute("begin transaction")
    try:
        # Batches are cut from the people who are mailed, in person_id order, so a batch is
        # the same on every rerun.
        planned = conn.execute(
            f"""
            insert into email.send_plan
            select ?, ?, person_id, variant,
                case when variant <> '{HOLDOUT}' then ? + (row_number() over (
                    partition by variant = '{HOLDOUT}' order by person_id
                ) - 1) // ? end,
                ?
            from guarded where reason is null
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


@contextlib.contextmanager
def _main_module_hidden():
    """While a pool starts its workers, show multiprocessing an empty __main__.

    Spawn imports the parent's __main__ into every worker, for functions defined there.
    Ours live in email_render.batch; the parent's __main__ is `dagster asset materialize` or
    a bench script, which cost each worker 0.7 s or more of imports and 70 MB or more."""
    main = sys.modules["__main__"]
    sys.modules["__main__"] = types.ModuleType("__main__")
    try:
        yield
    finally:
        sys.modules["__main__"] = main


def render_workers() -> int:
    return int(os.environ.get("MAILPIPE_RENDER_WORKERS") or os.cpu_count() or 1)


def export(
    run: CampaignRun,
    conn: duckdb.DuckDBPyConnection,
    after_batch_written: Callable[[int], None] | None = None,
    workers: int | None = None,
) -> ExportResult:
    """Export every planned send not yet in the ledger; rerunning is safe at any point.

    Workers (default: one per core) render each batch and write its files while this
    process reads the warehouse and commits the ledger, batch by batch in order and only
    after the batch's files exist, with a few batches in flight so memory stays flat however
    many recipients there are.

    after_batch_written: called after a batch's files are written and before its ledger rows
    are committed (the riskiest moment for a crash), for tests that kill the export there."""
    campaign, renderer, send_date, out_dir = run.campaign, run.renderer, run.send_date, run.out_dir
    recipient_extra, sender, domain = run.recipient_extra, run.sender, run.domain
    day = send_date.isoformat()
    result = ExportResult(campaign.campaign_id, day)
    out_dir.mkdir(parents=True, exist_ok=True)
    key = [campaign.campaign_id, send_date]

    def batches_of_rows(as_arrow: bool):
        """(batch_no, rows) for every pending batch, on a cursor of its own so the ledger
        commits on `conn` can interleave. Rows come as an Arrow table for the workers to
        convert, or as recipient dicts.

        Read a few batches at a time rather than in one sorted query: sorting every wide row
        (products and cart lists included) held the whole audience in DuckDB's memory."""
        reader = conn.cursor()
        pending = reader.execute(
            f"""
            select p.batch_no, min(p.person_id), max(p.person_id)
            {PENDING_SENDS} group by p.batch_no order by p.batch_no
            """,
            key,
        ).fetchall()
        for first in range(0, len(pending), BATCHES_PER_READ):
            group = pending[first : first + BATCHES_PER_READ]
            low, high = min(g[1] for g in group), max(g[2] for g in group)
            # The person_id bounds are implied by the batches; stated on the audience too,
            # they let DuckDB skip its row groups outside them.
            table = reader.sql(
                f"""
                select p.batch_no as _batch_no, p.variant, a.*
                {PENDING_SENDS} and p.batch_no between ? and ?
                    and p.person_id between ? and ? and a.person_id between ? and ?
                order by p.batch_no, p.person_id
                """,
                params=[*key, group[0][0], group[-1][0], low, high, low, high],
            ).to_arrow_table()
            numbers = table.column("_batch_no").to_numpy()
            edges = [0, *(np.flatnonzero(numbers[1:] != numbers[:-1]) + 1), len(numbers)]
            for start, end in itertools.pairwise(edges):
                yield int(numbers[start]), _payload(table.slice(start, end - start), as_arrow)
        reader.close()

    def _payload(table: pa.Table, as_arrow: bool):
        if as_arrow:
            return table.combine_chunks()
        return recipients(table.to_pylist(), recipient_extra)

    def commit(batch: RenderedBatch) -> None:
        upload.append_batch(batch.batch_no)
        if after_batch_written is not None:
            after_batch_written(batch.batch_no)
        person_ids, variants, message_ids = zip(*batch.ledger, strict=True)
        conn.register(
            "_sent",
            pa.table({"person_id": person_ids, "variant": variants, "message_id": message_ids}),
        )
        # The primary key keeps a send from being recorded twice; checking it through the
        # index rather than an anti-join on the ledger keeps each commit's cost flat.
        result.exported_now += conn.execute(
            """
            insert or ignore into email.send_ledger
            select ?, ?, person_id, variant, message_id, current_timestamp, null from _sent
            """,
            key,
        ).fetchall()[0][0]
        conn.unregister("_sent")

    def committed(person_ids: list[str]) -> list[bool]:
        found = {
            row[0]
            for row in conn.execute(
                "select person_id from email.send_ledger"
                " where campaign_id = ? and send_date = ? and person_id in (select unnest(?))",
                [*key, person_ids],
            ).fetchall()
        }
        return [p in found for p in person_ids]

    upload = Upload(out_dir)
    already = upload.open(committed)
    try:
        workers = render_workers() if workers is None else workers
        in_workers = workers > 1 and picklable(recipient_extra)
        pending = batches_of_rows(as_arrow=in_workers)
        first = next(pending, None)
        second = next(pending, None)
        if first is not None and (workers <= 1 or second is None):
            if in_workers:  # one batch only: render it here
                first = (first[0], recipients(first[1].to_pylist(), recipient_extra))
            for batch_no, rows in (b for b in (first, second) if b is not None):
                commit(render_and_write(renderer, rows, batch_no, out_dir, day, sender, domain))
            for batch_no, rows in pending:
                commit(render_and_write(renderer, rows, batch_no, out_dir, day, sender, domain))
        elif first is not None:
            # spawn, not fork: the orchestrator's process has threads. Workers render and write a
            # batch's files; this process commits the ledger in batch order, after the files.
            queued = itertools.chain([first, second], pending)
            with _main_module_hidden():
                pool = multiprocessing.get_context("spawn").Pool(
                    workers, init_worker, (campaign, recipient_extra if in_workers else None)
                )
            with pool:
                in_flight: deque = deque()
                exhausted = False
                while not exhausted or in_flight:
                    while not exhausted and len(in_flight) < 2 * workers + 1:
                        batch = next(queued, None)
                        if batch is None:
                            exhausted = True
                            break
                        batch_no, rows = batch
                        job = (rows, batch_no, out_dir, day, sender, domain)
                        in_flight.append(pool.apply_async(render_batch_in_worker, (job,)))
                    if in_flight:
                        commit(in_flight.popleft().get())
    finally:
        upload.close()
    result.upload_jsonl, result.upload_csv = upload.jsonl, upload.csv
    result.already_exported = already
    counts = conn.execute(
        """
        select count(*) filter (where variant <> 'holdout'), count(*) filter (where variant = 'holdout')
        from email.send_plan where campaign_id = ? and send_date = ?
        """,
        key,
    ).fetchall()[0]
    result.planned, result.holdout = counts
    result.exclusions = dict(
        conn.execute(
            "select reason, count(*) from email.send_exclusions where campaign_id = ? and send_date = ? group by 1",
            key,
        ).fetchall()
    )
    return result


def previews(run: CampaignRun, conn: duckdb.DuckDBPyConnection) -> Path:
    """One preview per variant and lifecycle segment, from real profiles, plus the profiles
    with the least data (no first name, no products) so fallbacks can be seen."""
    campaign, renderer, send_date, out_dir = run.campaign, run.renderer, run.send_date, run.out_dir
    recipient_extra, sender, domain = run.recipient_extra, run.sender, run.domain
    rows = conn.execute(
        """
        with candidates as (
            select a.*, c.lifecycle_stage,
                row_number() over (partition by c.lifecycle_stage order by a.person_id) as n,
                row_number() over (
                    order by (a.first_name is null)::int + (len(coalesce(a.products, [])) = 0)::int desc, a.person_id
                ) as sparse_rank
            from email.send_audience as a
            join marts.dim_customers as c on a.person_id = c.person_id
        )
        select * from candidates where n = 1 or sparse_rank = 1 order by lifecycle_stage, person_id
        """
    )
    names = [d[0] for d in rows.description]
    samples = [dict(zip(names, r, strict=True)) for r in rows.fetchall()]
    day = send_date.isoformat()
    pages = []
    for variant in campaign.variants:
        for sample in samples:
            recipient = {
                **sample,
                "products": sample["products"] or [],
                "cart_items": sample["cart_items"] or [],
                "browsed_items": sample.get("browsed_items") or [],
            }
            recipient.update(recipient_extra(recipient))
            record, _ = render_send(renderer, recipient, variant.name, day, sender, domain)
            label = sample["lifecycle_stage"] if sample["n"] == 1 else "least_data"
            pages.append((variant.name, label, record))
    return write_previews(out_dir, f"{campaign.name} · {day}", pages)


def deliver_pending(
    conn: duckdb.DuckDBPyConnection,
    campaign_id: str,
    send_date: date,
    out_dir: Path,
    smtp: SmtpSettings,
    sender: str,
) -> int:
    """Deliver every exported message of the day not yet delivered, recording each as the
    server accepts it. A crash between acceptance and the record can repeat one message;
    its Message-ID is the same, so a receiving system can drop it."""
    pending = conn.execute(
        """
        select l.person_id, a.email from email.send_ledger as l
        join email.send_audience as a on l.person_id = a.person_id
        where l.campaign_id = ? and l.send_date = ? and l.delivered_at is null
        order by l.person_id
        """,
        [campaign_id, send_date],
    ).fetchall()
    recipients = dict(pending)
    messages = (
        (person, recipients[person], message)
        for person, message in read_messages(out_dir)
        if person in recipients
    )
    delivered = 0
    for person in deliver(smtp, sender, messages):
        conn.execute(
            "update email.send_ledger set delivered_at = current_timestamp"
            " where campaign_id = ? and send_date = ? and person_id = ?",
            [campaign_id, send_date, person],
        )
        delivered += 1
    return delivered
