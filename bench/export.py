"""`make bench-export`: render and export one campaign to N recipients, with wall time and
peak memory, on a copy of a bench warehouse (run `make bench` at some scale first).

The send audience is replicated under new person ids until it has N recipients, so the
messages are real profiles' messages at any N. Guards and caps are relaxed so that every
recipient is planned; what is measured is rendering and export.
"""

import argparse
import multiprocessing
import os
import resource
import shutil
import sys
import tempfile
import threading
import time
from pathlib import Path

import duckdb

from email_render.batch import RecipientExtras
from email_render.campaign import load_campaigns
from email_render.render import TEMPLATES_DIR, Renderer
from orchestration import settings, warehouse
from orchestration.sends import exporting, planning


def _kib(pid: int | str, field: str) -> int:
    try:
        with open(f"/proc/{pid}/status") as status:
            for line in status:
                if line.startswith(field):
                    return int(line.split()[1])
    except (FileNotFoundError, ProcessLookupError):
        pass
    return 0


def _is_worker(pid: str) -> bool:
    """A started worker, not a child between fork and exec, which still shows our memory."""
    try:
        return b"spawn_main" in Path(f"/proc/{pid}/cmdline").read_bytes()
    except (FileNotFoundError, ProcessLookupError):
        return False


class WorkerPeaks(threading.Thread):
    """The largest high-water RSS (VmHWM) among this process's children, sampled. Not
    ru_maxrss: Linux carries a forked child's pre-exec peak, the parent's size, across exec."""

    def __init__(self):
        super().__init__(daemon=True)
        self.peak_kib = 0
        self._done = threading.Event()

    def run(self) -> None:
        while not self._done.wait(0.05):
            for task in Path(f"/proc/{os.getpid()}/task").iterdir():
                for child in (task / "children").read_text().split():
                    if _is_worker(child):
                        self.peak_kib = max(self.peak_kib, _kib(child, "VmHWM"))

    def stop(self) -> int:
        self._done.set()
        self.join()
        return self.peak_kib


CPU = {"exporter": resource.RUSAGE_SELF, "workers": resource.RUSAGE_CHILDREN}


def _cpu_seconds(who: str) -> float:
    usage = resource.getrusage(CPU[who])
    return usage.ru_utime + usage.ru_stime


def _prepare(db: Path, recipients: int) -> None:
    """Replicate the audience to `recipients` people and clear the day's plan and ledger. In
    a process of its own, so its memory is not counted as the export's."""

    with duckdb.connect(str(db)) as conn:
        people = conn.execute("select count(*) from email.send_audience").fetchall()[0][0]
        copies = -(-recipients // people)
        conn.execute(
            f"""
            create or replace table email.send_audience as
            select * replace (person_id || '-' || copy as person_id)
            from email.send_audience, range({copies}) as r(copy)
            order by person_id
            limit {recipients}
            """
        )
        conn.execute(
            """
            create or replace table marts.dim_customers as
            select c.* replace (a.person_id as person_id)
            from email.send_audience as a
            join marts.dim_customers as c on split_part(a.person_id, '-', 1) = c.person_id
            """
        )
        for table in ("send_plan", "send_ledger", "send_exclusions"):
            conn.execute(f"delete from email.{table}")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--recipients", type=int, default=100_000)
    parser.add_argument("--from-bench", type=int, default=100_000, help="bench folder to copy")
    parser.add_argument("--campaign", default="weekly-picks")
    args = parser.parse_args()
    source = settings.data_dir() / "bench" / str(args.from_bench) / "warehouse.duckdb"
    if not source.exists():
        print(f"{source} is missing: run CUSTOMERS={args.from_bench} make bench first")
        return 1
    work = Path(tempfile.mkdtemp(prefix="bench-export-"))
    try:
        db = work / "warehouse.duckdb"
        shutil.copy(source, db)
        preparing = multiprocessing.get_context("spawn").Process(
            target=_prepare, args=(db, args.recipients)
        )
        preparing.start()
        preparing.join()
        if preparing.exitcode:
            return preparing.exitcode
        campaign = next(
            c
            for c in load_campaigns(settings.campaigns_dir(), TEMPLATES_DIR)
            if c.campaign_id == args.campaign
        )
        with duckdb.connect(str(db)) as conn:
            send_date = warehouse.as_of(conn).date()
            before_kib = _kib("self", "VmRSS")
            started = time.perf_counter()
            planning.plan(
                conn, campaign, send_date, planning.FrequencyCaps(per_day=99, per_week=99)
            )
            planned = time.perf_counter() - started
            run = exporting.CampaignRun(
                campaign,
                Renderer(campaign),
                send_date,
                work / "exports",
                RecipientExtras(
                    campaign.campaign_id, settings.postal_address(), settings.unsubscribe_base_url()
                ),
                settings.sender_address(),
                settings.sender_domain(),
            )
            workers = WorkerPeaks()
            workers.start()
            cpu_before = {who: _cpu_seconds(who) for who in CPU}
            started = time.perf_counter()
            result = exporting.export(run, conn)
            seconds = time.perf_counter() - started
            worker_kib = workers.stop()
            cpu = {who: _cpu_seconds(who) - cpu_before[who] for who in CPU}
        print(
            f"{args.campaign}: {result.exported_now:,} sends of {args.recipients:,} recipients "
            f"({result.holdout:,} held out), planned in {planned:.1f} s, rendered and exported "
            f"in {seconds:.1f} s = {result.exported_now / seconds:,.0f} emails per second; "
            f"exporter RSS {before_kib / 1024:,.0f} MB before planning, peak "
            f"{_kib('self', 'VmHWM') / 1024:,.0f} MB; largest worker peak {worker_kib / 1024:,.0f} MB; "
            f"CPU per email {cpu['exporter'] / result.exported_now * 1e6:,.0f} µs exporting, "
            f"{cpu['workers'] / result.exported_now * 1e6:,.0f} µs in workers"
        )
    finally:
        shutil.rmtree(work, ignore_errors=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
