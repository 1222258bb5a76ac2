"""`make bench-export`: render and export one campaign to N recipients, with wall time and
peak memory, on a copy of a bench warehouse (run `make bench` at some scale first).

The send audience is replicated under new person ids until it has N recipients, so the
messages are real profiles' messages at any N. Guards and caps are relaxed so that every
recipient is planned; what is measured is rendering and export.
"""

import argparse
import resource
import shutil
import sys
import tempfile
import time
from pathlib import Path

import duckdb

from email_render.campaign import load_campaigns
from email_render.render import TEMPLATES_DIR, Renderer
from orchestration.lib import sends, settings, warehouse


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
        campaign = next(
            c
            for c in load_campaigns(settings.campaigns_dir(), TEMPLATES_DIR)
            if c.campaign_id == args.campaign
        )
        with duckdb.connect(str(db)) as conn:
            people = conn.execute("select count(*) from email.send_audience").fetchall()[0][0]
            copies = -(-args.recipients // people)
            conn.execute(
                f"""
                create or replace table email.send_audience as
                select * replace (person_id || '-' || copy as person_id)
                from email.send_audience, range({copies}) as r(copy)
                limit {args.recipients}
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
            send_date = warehouse.as_of(conn).date()
            started = time.perf_counter()
            sends.plan(conn, campaign, send_date, sends.FrequencyCaps(per_day=99, per_week=99))
            planned = time.perf_counter() - started
            run = sends.CampaignRun(
                campaign,
                Renderer(campaign),
                send_date,
                work / "exports",
                sends.RecipientExtras(
                    campaign.campaign_id, settings.postal_address(), settings.unsubscribe_base_url()
                ),
                settings.sender_address(),
                settings.sender_domain(),
            )
            started = time.perf_counter()
            result = sends.export(run, conn)
            seconds = time.perf_counter() - started
        main_mb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
        worker_mb = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss / 1024
        print(
            f"{args.campaign}: {result.exported_now:,} sends of {args.recipients:,} recipients "
            f"({result.holdout:,} held out), planned in {planned:.1f} s, rendered and exported "
            f"in {seconds:.1f} s = {result.exported_now / seconds:,.0f} emails per second; "
            f"peak RSS {main_mb:,.0f} MB exporter, {worker_mb:,.0f} MB largest worker"
        )
    finally:
        shutil.rmtree(work, ignore_errors=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
