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

import hashlib
import itertools
import multiprocessing
import os
import pickle
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import date
from pathlib import Path

import duckdb
import numpy as np
import pandas as pd
import pyarrow as pa

from email_render.assignment import HOLDOUT, assign
from email_render.campaign import Campaign
from email_render.delivery import SmtpSettings, deliver
from email_render.export import (
    Upload,
    read_messages,
    render_send,
    serialize,
    write_messages,
    write_previews,
)
from email_render.render import Renderer
from orchestration.lib import privacy, segment_store
from orchestration.lib.segments import Segment, compile_condition

BATCH_SIZE = 1_000


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
    variants = dict(conn.execute("select person_id, variant from audience").fetchall())
    return _guard_and_store(
        conn, campaign, send_date, caps, batch_size, variants, int(first_batch), append=True
    )


def _guard_and_store(
    conn: duckdb.DuckDBPyConnection,
    campaign: Campaign,
    send_date: date,
    caps: FrequencyCaps,
    batch_size: int,
    variants: dict[str, str] | None = None,
    first_batch: int = 0,
    append: bool = False,
) -> int:
    """Guard the people in the temp table `audience` and store the plan and exclusions.
    Variants come from `variants` or the campaign's deterministic assignment."""
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
    guarded = conn.execute(
        f"""
        with frequency as (
            select
                person_id,
                count(distinct campaign_id) filter (where sent_on = ?) as sends_today,
                count(distinct (campaign_id, sent_on)) as sends_this_week
            from recent_sends group by person_id
        )
        select a.person_id, {GUARD_REASONS} as reason
        from audience as a
        join marts.dim_customers as c on a.person_id = c.person_id
        left join frequency as f on a.person_id = f.person_id
        left join privacy.suppression_list as suppressed
            on suppressed.email_hash = {privacy.sql_hash("email", "c.email")}
        order by a.person_id
        """,
        [send_date, caps.per_day, caps.per_week, privacy.salt()],
    ).df()
    excluded = guarded[guarded["reason"].notna()]
    eligible = guarded[guarded["reason"].isna()].copy()
    eligible["variant"] = [
        variants[p] if variants is not None else assign(campaign, p) for p in eligible["person_id"]
    ]
    sending = eligible["variant"] != HOLDOUT
    eligible["batch_no"] = None
    eligible.loc[sending, "batch_no"] = [
        first_batch + i // batch_size for i in range(int(sending.sum()))
    ]
    frame = eligible.assign(
        campaign_id=campaign.campaign_id, send_date=send_date, planned_at=pd.Timestamp.now()
    )
    exclusions = excluded.assign(campaign_id=campaign.campaign_id, send_date=send_date)
    conn.execute("begin transaction")
    conn.register("_plan", frame)
    conn.execute(
        "insert into email.send_plan select campaign_id, send_date, person_id, variant, batch_no, planned_at from _plan"
    )
    conn.register("_exclusions", exclusions)
    if not append:
        conn.execute(
            "delete from email.send_exclusions where campaign_id = ? and send_date = ?",
            [campaign.campaign_id, send_date],
        )
    conn.execute(
        "insert into email.send_exclusions select campaign_id, send_date, person_id, reason from _exclusions"
    )
    conn.execute("commit")
    conn.unregister("_plan")
    conn.unregister("_exclusions")
    return len(eligible)


_worker_renderer: Renderer | None = None


def unsubscribe_url(base_url: str, campaign_id: str, person_id: str) -> str:
    token = hashlib.sha256(f"{campaign_id}:{person_id}".encode()).hexdigest()[:24]
    return f"{base_url}?p={person_id}&c={campaign_id}&t={token}"


@dataclass(frozen=True)
class RecipientExtras:
    """What every message adds to the customer view: the footer's postal address and a
    per-person unsubscribe link. A plain object, so export workers can take it along."""

    campaign_id: str
    postal_address: str
    unsubscribe_base_url: str

    def __call__(self, recipient: dict) -> dict:
        return {
            "postal_address": self.postal_address,
            "unsubscribe_url": unsubscribe_url(
                self.unsubscribe_base_url, self.campaign_id, recipient["person_id"]
            ),
        }


def recipients(rows: list[dict], recipient_extra: Callable[[dict], dict]) -> list[dict]:
    """Rows of the send plan joined to the audience, ready to render."""
    for recipient in rows:
        recipient.pop("_batch_no", None)
        recipient["products"] = recipient.get("products") or []
        recipient["cart_items"] = recipient.get("cart_items") or []
        recipient["browsed_items"] = recipient.get("browsed_items") or []
        recipient.update(recipient_extra(recipient))
    return rows


_worker_extra: Callable[[dict], dict] | None = None


def _picklable(value) -> bool:
    try:
        pickle.dumps(value)
    except (pickle.PicklingError, AttributeError, TypeError):
        return False
    return True


def _init_worker(campaign: Campaign, recipient_extra=None) -> None:
    global _worker_renderer, _worker_extra
    _worker_renderer = Renderer(campaign)
    _worker_extra = recipient_extra


@dataclass
class RenderedBatch:
    """A batch whose messages are on disk: its ledger rows and its upload lines."""

    ledger: list[tuple[str, str, str]]
    json_lines: bytes
    csv_lines: bytes


def render_and_write(
    renderer: Renderer,
    rows: list[dict],
    batch_no: int,
    out_dir: Path,
    day: str,
    sender: str,
    domain: str,
) -> RenderedBatch:
    """Render a batch and write its messages; the upload lines go back to the exporter,
    which appends them in batch order."""
    sends_of_batch = [
        serialize(*render_send(renderer, r, r["variant"], day, sender, domain), batch_no)
        for r in rows
    ]
    write_messages(out_dir, batch_no, sends_of_batch)
    return RenderedBatch(
        [(s.person_id, s.variant, s.message_id) for s in sends_of_batch],
        b"".join(s.json_line for s in sends_of_batch),
        b"".join(s.csv_line for s in sends_of_batch),
    )


def _render_batch(args) -> RenderedBatch:
    rows, *rest = args
    if isinstance(rows, pa.Table):
        # Built from Arrow here rather than in the exporting process, which stays free to
        # read and commit: the conversion to Python objects runs on every core.
        rows = recipients(rows.to_pylist(), _worker_extra)
    return render_and_write(_worker_renderer, rows, *rest)


def render_workers() -> int:
    return int(os.environ.get("MAILPIPE_RENDER_WORKERS", os.cpu_count() or 1))


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
        """(batch_no, rows) for every pending batch, streamed from one query on a cursor of
        its own, so the ledger commits on `conn` can interleave. Rows come as an Arrow
        table for the workers to convert, or as recipient dicts."""
        reader = conn.cursor()
        reader.execute(
            """
            select p.batch_no as _batch_no, p.variant, a.* from email.send_plan as p
            join email.send_audience as a on p.person_id = a.person_id
            left join email.send_ledger as l
                on l.campaign_id = p.campaign_id and l.send_date = p.send_date
                and l.person_id = p.person_id
            where p.campaign_id = ? and p.send_date = ? and p.batch_no is not null
                and l.person_id is null
            order by p.batch_no, p.person_id
            """,
            key,
        )
        carry = None
        for chunk in reader.to_arrow_reader(BATCH_SIZE):
            table = pa.Table.from_batches([chunk])
            if carry is not None:
                table = pa.concat_tables([carry, table])
            numbers = table.column("_batch_no").to_numpy()
            edges = [0, *(np.flatnonzero(numbers[1:] != numbers[:-1]) + 1), len(numbers)]
            for start, end in itertools.pairwise(edges[:-1]):
                yield int(numbers[start]), _payload(table.slice(start, end - start), as_arrow)
            carry = table.slice(edges[-2]).combine_chunks()
        if carry is not None and carry.num_rows:
            yield int(carry.column("_batch_no")[0].as_py()), _payload(carry, as_arrow)
        reader.close()

    def _payload(table: pa.Table, as_arrow: bool):
        if as_arrow:
            return table.combine_chunks()
        return recipients(table.to_pylist(), recipient_extra)

    def commit(batch_no: int, batch: RenderedBatch) -> None:
        upload.append(batch.json_lines, batch.csv_lines)
        if after_batch_written is not None:
            after_batch_written(batch_no)
        ledger = pd.DataFrame(batch.ledger, columns=["person_id", "variant", "message_id"])
        conn.register("_sent", ledger)
        conn.execute(
            """
            insert into email.send_ledger
            select ?, ?, s.person_id, s.variant, s.message_id, current_timestamp, null from _sent as s
            where not exists (
                select 1 from email.send_ledger as l
                where l.campaign_id = ? and l.send_date = ? and l.person_id = s.person_id
            )
            """,
            [*key, *key],
        )
        conn.unregister("_sent")
        result.exported_now += len(batch.ledger)

    committed = {
        row[0]
        for row in conn.execute(
            "select person_id from email.send_ledger where campaign_id = ? and send_date = ?", key
        ).fetchall()
    }
    upload = Upload(out_dir)
    already = upload.open(committed)
    try:
        workers = render_workers() if workers is None else workers
        in_workers = workers > 1 and _picklable(recipient_extra)
        pending = batches_of_rows(as_arrow=in_workers)
        first = next(pending, None)
        second = next(pending, None)
        if first is not None and (workers <= 1 or second is None):
            if in_workers:  # one batch only: render it here
                first = (first[0], recipients(first[1].to_pylist(), recipient_extra))
            for batch_no, rows in (b for b in (first, second) if b is not None):
                commit(
                    batch_no,
                    render_and_write(renderer, rows, batch_no, out_dir, day, sender, domain),
                )
            for batch_no, rows in pending:
                commit(
                    batch_no,
                    render_and_write(renderer, rows, batch_no, out_dir, day, sender, domain),
                )
        elif first is not None:
            # spawn, not fork: the orchestrator's process has threads. Workers render and write a
            # batch's files; this process commits the ledger in batch order, after the files.
            queued = itertools.chain([first, second], pending)
            with multiprocessing.get_context("spawn").Pool(
                workers, _init_worker, (campaign, recipient_extra if in_workers else None)
            ) as pool:
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
                        in_flight.append((batch_no, pool.apply_async(_render_batch, (job,))))
                    if in_flight:
                        batch_no, rendered = in_flight.popleft()
                        commit(batch_no, rendered.get())
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
