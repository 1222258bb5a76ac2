"""Export a campaign's planned sends exactly once.

email.send_ledger records each exported send. Worker processes render a batch and write its
message archive and upload part file; this process then commits the batch's ledger rows.
After a crash the batch is redone with identical output, so nothing is sent twice or lost.
"""

from __future__ import annotations

import contextlib
import itertools
import multiprocessing
import sys
import types
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import date
from pathlib import Path

import duckdb
import numpy as np
import pyarrow as pa

from email_render.batch import (
    RecipientExtras,
    RenderedBatch,
    init_worker,
    picklable,
    recipients,
    render_and_write,
    render_batch_in_worker,
)
from email_render.campaign import Campaign
from email_render.export import Upload
from email_render.render import Renderer
from orchestration import settings

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


def recipient_extras(campaign_id: str) -> RecipientExtras:
    """What every message of the campaign adds to the customer view: the footer's postal
    address and the unsubscribe link, from the settings."""
    return RecipientExtras(campaign_id, settings.postal_address(), settings.unsubscribe_base_url())


def export(
    run: CampaignRun,
    conn: duckdb.DuckDBPyConnection,
    after_batch_written: Callable[[int], None] | None = None,
    workers: int | None = None,
    progress: Callable[[int, int], None] | None = None,
) -> ExportResult:
    """Export every planned send not yet in the ledger; rerunning is safe at any point.

    Workers (default: one per core) render each batch and write its files while this
    process reads the warehouse and commits the ledger, batch by batch in order and only
    after the batch's files exist, with a few batches in flight so memory stays flat however
    many recipients there are.

    after_batch_written: called after a batch's files are written and before its ledger rows
    are committed (the riskiest moment for a crash), for tests that kill the export there.
    progress: called with (batches committed, batches pending at the start) after each."""
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

    batches_total = conn.execute(
        f"select count(distinct p.batch_no) {PENDING_SENDS}", key
    ).fetchall()[0][0]
    batches_done = 0

    def commit(batch: RenderedBatch) -> None:
        nonlocal batches_done
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
        batches_done += 1
        if progress is not None:
            progress(batches_done, batches_total)

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
        workers = settings.render_workers() if workers is None else workers
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
