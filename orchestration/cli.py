"""Command line: `python -m orchestration <command>` (also installed as `mailpipe`)."""

from __future__ import annotations

import argparse
import contextlib
import os
import re
import sys

from email_render import layout
from orchestration import settings


def _generate(args: argparse.Namespace) -> int:
    from orchestration.demo.generator import DemoParams, generate

    params = DemoParams(customers=args.customers, seed=args.seed, end=args.end)
    landing = settings.landing_dir()
    truth = settings.ground_truth_dir()
    counts = generate(landing, truth, params, workers=args.workers)
    print(f"Generated demo data for {args.customers:,} customers (seed {args.seed}):")
    for key, value in sorted(counts.items()):
        print(f"  {key:<28} {value:>12,}")
    print(f"  landing files: {landing}")
    print(f"  ground truth:  {truth}")
    return 0


def _where(args: argparse.Namespace) -> int:
    """Print where a run's results are, with the figures a newcomer wants to see first."""
    import duckdb

    warehouse = settings.warehouse_path()
    print("\nResults")
    print(f"  warehouse (DuckDB):   {warehouse}")
    if warehouse.exists():
        with duckdb.connect(str(warehouse), read_only=True) as conn:
            for table in (
                "raw.load_audit",
                "raw.quarantine",
                "marts.dim_customers",
                "marts.fct_orders",
                "marts.identity_links",
                "ml.customer_scores",
                "ml.customer_recommendations",
                "email.send_audience",
                "email.journey_state",
                "marts.campaign_metrics",
            ):
                try:
                    n = conn.execute(f"select count(*) from {table}").fetchall()[0][0]
                except duckdb.Error:
                    n = "missing"
                print(f"    {table:<30} {n:>10}")
    print(f"  MLflow runs:          {settings.mlflow_tracking_uri()}  (browse: make mlflow)")
    exports = settings.exports_dir()
    print(f"  exported sends:       {exports}")
    for out_dir in layout.export_dirs(exports):
        upload, _ = layout.upload_files(out_dir)
        if not upload.exists():
            continue
        lines = sum(1 for _ in upload.open(encoding="utf-8"))
        print(f"    {upload.relative_to(exports)}  ({lines} sends)")
        print(f"    previews: {layout.previews_index(out_dir)}")
    report = layout.campaign_report(exports)
    if report.exists():
        print(f"  campaign report:      {report}")
    docs = settings.gx_context_dir() / "uncommitted" / "data_docs" / "local_site" / "index.html"
    print(f"  data quality (GX):    {docs}")
    print("  Dagster UI:           make ui  (http://127.0.0.1:3000)")
    return 0


def _print_scores(title: str, scores) -> None:
    print(f"{title} ({scores.records:,} source records):")
    print(
        f"  pairwise precision {scores.precision:.4f}  ({scores.correct_pairs:,} of {scores.predicted_pairs:,} merged pairs)"
    )
    print(
        f"  pairwise recall    {scores.recall:.4f}  ({scores.correct_pairs:,} of {scores.true_pairs:,} true pairs)"
    )
    if scores.records_without_identifiers:
        print(
            f"  recall ceiling     {scores.recall_ceiling:.4f}  ({scores.records_without_identifiers:,}"
            " records carry nothing another record shares, such as browsers that never logged"
            " in or identified, or were quarantined: no resolver can link them)"
        )


def _evaluate_identity(args: argparse.Namespace) -> int:
    """Identity resolution scored on the demo's ground truth and on the FEBRL benchmarks."""
    import tempfile
    from pathlib import Path

    import duckdb

    from orchestration.identity import febrl
    from orchestration.identity.evaluation import identity_scores

    warehouse, truth = settings.warehouse_path(), settings.ground_truth_dir()
    if warehouse.exists() and (truth / "records.csv").exists():
        with duckdb.connect(str(warehouse), read_only=True) as conn:
            _print_scores("Demo data against its ground truth", identity_scores(conn, truth))
    else:
        print(f"Demo data: no warehouse and ground truth at {warehouse}, {truth} (make demo)")
    if args.demo_only:
        return 0
    threshold = settings.identity_match_threshold()
    for name in febrl.BENCHMARKS:
        with tempfile.TemporaryDirectory(prefix="mailpipe-febrl-") as workdir:
            try:
                result = febrl.run_benchmark(
                    name, Path(workdir), settings.dbt_project_dir(), threshold
                )
            except febrl.BenchmarkUnavailable as error:
                print(f"FEBRL: {error}")
                return 1
        _print_scores(f"{name.capitalize()} (threshold {threshold})", result.scores)
        print(
            f"  {result.pairs_linked_probabilistically:,} pairs matched probabilistically;"
            f" {result.quarantined:,} records quarantined at load (their pairs count as misses);"
            f" load and dbt took {result.seconds:.1f} s"
        )
    return 0


def _forget(args: argparse.Namespace) -> int:
    """Right to erasure. Prints counts only: the terminal log is no place for the address."""
    from orchestration.privacy import erasure

    if not _is_email(args.email):
        print(f"not an email address: {args.email!r}; nothing was erased")
        return 2
    if not (args.yes or args.dry_run):
        if not sys.stdin.isatty():
            print(
                "erasure cannot be undone: add --yes to confirm, or --dry-run to see what it removes"
            )
            return 2
        if input("Erase everyone behind this address, everywhere? [y/N] ").strip().lower() != "y":
            print("nothing was erased")
            return 1
    with _warehouse(read_only=False) as conn:
        report = erasure.forget(
            conn,
            args.email,
            settings.exports_dir(),
            dry_run=args.dry_run,
            landing_dir=settings.landing_dir(),
        )
    if args.dry_run:
        print(f"dry run, nothing changed: {report.people_erased} person(s) would be erased")
    else:
        print(report.summary())
    for table, rows in sorted(report.rows_removed.items()):
        print(f"  {table:<40} {rows:>8,} rows {'to remove' if args.dry_run else 'removed'}")
    if report.landing_files:
        print(
            "  landing files that still name them (the sources' exports: delete or re-export"
            " them; the loader keeps these people out meanwhile):"
        )
        for mention in report.landing_files:
            print(f"    {mention['file']:<50} {mention['lines']:>6,} lines")
    if not report.people_erased:
        print("  nobody in the warehouse had this email; its hash is suppressed all the same")
        return 1
    return 0


def _is_email(text: str) -> bool:
    from orchestration.ingest.landing import EMAIL_PATTERN

    return re.fullmatch(EMAIL_PATTERN, text.strip().lower()) is not None


@contextlib.contextmanager
def _warehouse(read_only: bool):
    """The warehouse, or an error that says who holds it and what to do."""
    import duckdb

    path = settings.warehouse_path()
    if not path.exists():
        raise SystemExit(f"no warehouse at {path}: run make demo, or materialize the assets")
    try:
        conn = duckdb.connect(str(path), read_only=read_only)
    except duckdb.IOException as error:
        holder = re.search(r"\(PID (\d+)\)", str(error))
        who = f"process {holder.group(1)}" if holder else "another process"
        raise SystemExit(
            f"the warehouse {path} is in use by {who} (a Dagster run, dbt or the UI):"
            " wait for it to finish, or stop it, and try again"
        ) from None
    with conn:
        yield conn


def _access(args: argparse.Namespace) -> int:
    """Right of access: everything held on one person as one JSON document."""
    import json
    import os

    from orchestration.privacy import access

    if not _is_email(args.email):
        print(f"not an email address: {args.email!r}")
        return 2
    with _warehouse(read_only=True) as conn:
        document = access.access(conn, args.email, landing_dir=settings.landing_dir())
    if not document["person_ids"]:
        print("nobody in the warehouse has this email; no document was written")
        return 1
    text = json.dumps(document, indent=2, default=str)
    if args.out:
        try:
            descriptor = os.open(args.out, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        except OSError as error:
            print(f"cannot write {args.out}: {error.strerror}")
            return 2
        with os.fdopen(descriptor, "w", encoding="utf-8") as fh:
            fh.write(text)
        print(f"wrote {args.out} ({len(document['person_ids'])} person(s))")
        for mention in document["landing_files"]:
            print(f"  still in landing file {mention['file']} ({mention['lines']:,} lines)")
    else:
        print(text)
    return 0


def _campaign_validate(args: argparse.Namespace) -> int:
    """Every campaign, journey and segment file, checked at once without running anything:
    the files, then (when the warehouse exists) every name and field against its tables."""
    import duckdb

    from email_render.campaign import CampaignError, read_campaigns
    from email_render.journeys import read_journeys
    from email_render.render import TEMPLATES_DIR, Renderer
    from orchestration import warehouse as warehouse_tables
    from orchestration.segments.rules import (
        SegmentError,
        compile_condition,
        compile_segments,
        declared_values,
        load_segments,
    )
    from orchestration.sends import email_schema

    campaigns, broken = read_campaigns(settings.campaigns_dir(), TEMPLATES_DIR)
    journeys, broken_journeys = read_journeys(settings.journeys_dir(), TEMPLATES_DIR)
    problems = [*broken.values(), *broken_journeys.values()]
    library = []
    try:
        library = load_segments(settings.segments_dir())
    except SegmentError as error:
        problems.append(str(error))
    warehouse_path = settings.warehouse_path()
    checked_against = "the files only: no warehouse yet (make demo, or materialize the assets)"
    if warehouse_path.exists():
        with _warehouse(read_only=True) as conn:
            try:
                fields = email_schema.audience_fields(conn)
                columns = email_schema.create_segment_base(conn)
                as_of = warehouse_tables.as_of(conn).to_pydatetime()
            except duckdb.Error:
                fields, columns, as_of = (set(), {}), {}, None
        if columns:
            checked_against = f"the customer view in {warehouse_path}"
            known = declared_values(settings.dbt_project_dir() / "models")
            try:
                compile_segments(library, columns, "segment_base", known, as_of)
            except SegmentError as error:
                problems.append(str(error))
            steps = [step.campaign for journey in journeys for step in journey.steps]
            for campaign in [*campaigns, *steps]:
                try:
                    Renderer(campaign).validate(*fields)
                    if campaign.audience:
                        compile_condition(
                            campaign.audience,
                            columns,
                            library,
                            campaign.source_path,
                            f"campaign '{campaign.campaign_id}'",
                            "audience",
                            known,
                            as_of,
                        )
                except (CampaignError, SegmentError) as error:
                    problems.append(str(error))
    for problem in problems:
        print(problem)
    print(
        f"{len(campaigns)} campaigns, {len(journeys)} journeys, {len(library)} segments;"
        f" {len(problems)} with errors; checked against {checked_against}"
    )
    return 1 if problems else 0


def _one_campaign(campaign_id: str):
    """The campaign of that id, or None after saying which load and what is broken."""
    from email_render.campaign import read_campaigns
    from email_render.render import TEMPLATES_DIR

    campaigns, broken = read_campaigns(settings.campaigns_dir(), TEMPLATES_DIR)
    campaign = next((c for c in campaigns if c.campaign_id == campaign_id), None)
    if campaign is None:
        known = ", ".join(sorted(c.campaign_id for c in campaigns)) or "none"
        print(f"no campaign {campaign_id!r} among the files that load ({known})")
        for problem in broken.values():
            print(problem)
    return campaign


def _all_campaigns() -> list:
    from email_render.journeys import sendable_campaigns
    from email_render.render import TEMPLATES_DIR

    return sendable_campaigns(settings.campaigns_dir(), settings.journeys_dir(), TEMPLATES_DIR)


def _campaign_count(args: argparse.Namespace) -> int:
    """A campaign's audience now: who would be mailed, held out, or left out and why."""
    from datetime import date

    from orchestration import warehouse
    from orchestration.segments.rules import load_segments
    from orchestration.sends import planning

    campaign = _one_campaign(args.campaign)
    if campaign is None:
        return 1
    with _warehouse(read_only=True) as conn:
        day = date.fromisoformat(args.date) if args.date else warehouse.as_of(conn).date()
        counts = planning.count(
            conn,
            campaign,
            day,
            planning.FrequencyCaps.from_settings(_all_campaigns()),
            load_segments(settings.segments_dir()),
        )
    total = sum(counts.values())
    due = "due" if campaign.is_due(day) else "not due"
    print(f"{campaign.campaign_id} on {day} ({due}): {total:,} in the audience")
    for outcome in ("mailed", "held_out"):
        print(f"  {outcome:<32} {counts.pop(outcome, 0):>10,}")
    for reason, n in counts.items():
        print(f"  {'left out: ' + reason:<32} {n:>10,}")
    return 0


def _campaign_for_day(conn, campaign, date_text: str | None):
    """The day a command works on (the as-of date unless given) and the campaign's renderer,
    validated against the customer view as the sends validate it."""
    from datetime import date

    from email_render.render import Renderer
    from orchestration import warehouse as warehouse_tables
    from orchestration.sends import email_schema

    day = date.fromisoformat(date_text) if date_text else warehouse_tables.as_of(conn).date()
    renderer = Renderer(campaign)
    renderer.validate(*email_schema.audience_fields(conn))
    return day, renderer


def _campaign_preview(args: argparse.Namespace) -> int:
    """HTML and text previews of each variant on real members of one campaign's audience."""

    from orchestration.segments.rules import load_segments
    from orchestration.sends import exporting, planning, previewing

    campaign = _one_campaign(args.campaign)
    if campaign is None:
        return 1
    # Writes the preview pages under the exports, where an erasure finds them.
    with _warehouse(read_only=True) as conn:
        day, renderer = _campaign_for_day(conn, campaign, args.date)
        out_dir = layout.export_dir(settings.exports_dir(), campaign.campaign_id, day)
        extra = exporting.recipient_extras(campaign.campaign_id)
        run = exporting.CampaignRun(
            campaign,
            renderer,
            day,
            out_dir,
            extra,
            settings.sender_address(),
            settings.sender_domain(),
        )
        index = previewing.previews(
            run,
            conn,
            args.members,
            load_segments(settings.segments_dir()),
            planning.FrequencyCaps.from_settings(_all_campaigns()),
        )
    print(
        f"{campaign.campaign_id} on {day}: previews of {len(campaign.variants)} variant(s) at {index}"
    )
    return 0


def _campaign_test_send(args: argparse.Namespace) -> int:
    """Render a campaign with chosen people's data (or a member's) as .eml files in a folder,
    addressed to seed addresses if given, and deliver those over SMTP on request; nothing is
    planned or written to the ledger, and no customer is mailed outside the send guards."""
    from pathlib import Path

    from email_render.batch import recipients
    from email_render.delivery import SmtpSettings, deliver
    from email_render.export import render_send
    from orchestration.sends import exporting

    if not args.person and not args.to:
        print("name --person ID (their own data) or --to ADDRESS (a member's data), or both")
        return 2
    if args.smtp and not args.to:
        print("--smtp delivers only to --to seed addresses: a test never mails a customer")
        return 2
    bad = [a for a in args.to if not _is_email(a)]
    if bad:
        print(f"not an email address: {', '.join(map(repr, bad))}")
        return 2
    campaign = _one_campaign(args.campaign)
    if campaign is None:
        return 1
    with _warehouse(read_only=True) as conn:
        day, renderer = _campaign_for_day(conn, campaign, args.date)
        wanted = list(args.person) or [None]
        table = conn.sql(
            "select * from email.send_audience where person_id in (select unnest(?))"
            " or (? and person_id = (select min(person_id) from email.send_audience))",
            params=[wanted, not args.person],
        ).to_arrow_table()
    people = recipients(
        table.to_pylist(), exporting.recipient_extras(f"test-{campaign.campaign_id}")
    )
    missing = sorted(set(args.person) - {p["person_id"] for p in people})
    if missing:
        print(f"not in email.send_audience: {', '.join(missing)}")
        return 1
    if args.to:
        sends = [(person, address) for person in people for address in args.to]
    else:
        sends = [(person, person["email"]) for person in people]
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    messages = []
    for person, address in sends:
        for variant in campaign.variants:
            record, eml = render_send(
                renderer,
                {**person, "email": address},
                variant.name,
                day.isoformat(),
                settings.sender_address(),
                settings.sender_domain(),
            )
            name = f"{campaign.campaign_id}__{variant.name}__{person['person_id']}__{address}.eml"
            (out / name).write_bytes(eml)
            messages.append((name, address, eml))
    print(f"{len(messages)} test message(s) of {campaign.campaign_id} in {out}; none in the ledger")
    if args.smtp:
        smtp = settings.smtp()
        if smtp is None:
            print("--smtp needs MAILPIPE_SMTP_HOST (see .env.example)")
            return 2
        sent = list(deliver(SmtpSettings(**smtp), settings.sender_address(), messages))
        print(f"{len(sent)} delivered over SMTP to {smtp['host']}")
    return 0


def _campaign_reset(args: argparse.Namespace) -> int:
    """Drop a day's plans of which nothing was exported, so the campaigns are planned afresh."""
    from datetime import date

    from orchestration.sends import planning

    day = date.fromisoformat(args.date)
    with _warehouse(read_only=False) as conn:
        planned = [
            row[0]
            for row in conn.execute(
                "select distinct campaign_id from email.send_plan where send_date = ?"
                " and (? is null or campaign_id = ?) order by 1",
                [day, args.campaign, args.campaign],
            ).fetchall()
        ]
        if not planned:
            print(f"no plan for {day}{f' of {args.campaign}' if args.campaign else ''}")
            return 1
        kept = []
        for campaign_id in planned:
            if planning.drop_unsent_plan(conn, campaign_id, day):
                print(f"{campaign_id}: the plan for {day} is dropped; the next run plans it afresh")
            else:
                kept.append(campaign_id)
                print(
                    f"{campaign_id}: kept: part of the {day} plan was exported already, and"
                    " rerunning the sends finishes it without sending anyone twice"
                )
    return 1 if kept else 0


def main(argv: list[str] | None = None) -> int:
    settings.disable_telemetry()
    parser = argparse.ArgumentParser(prog="mailpipe", description=__doc__)
    sub = parser.add_subparsers(dest="command", required=True)
    gen = sub.add_parser("generate", help="write deterministic demo landing files and ground truth")
    gen.add_argument("--customers", type=int, default=2_000, help="people to simulate")
    gen.add_argument("--seed", type=int, default=42, help="the same seed writes the same files")
    gen.add_argument(
        "--end", default="2026-11-01T00:00:00", help="last moment of the history (UTC)"
    )
    gen.add_argument(
        "--workers",
        type=int,
        default=os.cpu_count() or 1,
        help="processes simulating shards of 5,000 customers at once; the files are the same",
    )
    gen.set_defaults(func=_generate)
    sub.add_parser("where", help="print where the results of the last run are").set_defaults(
        func=_where
    )
    evaluate = sub.add_parser(
        "evaluate-identity",
        help="pairwise precision and recall of identity resolution: demo data and FEBRL",
    )
    evaluate.add_argument(
        "--demo-only", action="store_true", help="skip the FEBRL benchmarks (about a minute)"
    )
    evaluate.set_defaults(func=_evaluate_identity)
    forget = sub.add_parser(
        "forget", help="erase a person everywhere, keeping only a salted hash to suppress them"
    )
    forget.add_argument("--email", required=True, help="the address whose person(s) to erase")
    forget.add_argument(
        "--dry-run", action="store_true", help="count what would be removed, change nothing"
    )
    forget.add_argument("--yes", action="store_true", help="confirm without being asked")
    forget.set_defaults(func=_forget)
    access = sub.add_parser("access", help="write everything held on a person as one JSON document")
    access.add_argument("--email", required=True, help="the address whose data to gather")
    access.add_argument("--out", help="file to write (readable by its owner only); default: stdout")
    access.set_defaults(func=_access)
    campaign = sub.add_parser(
        "campaign", help="check campaign, journey and segment files; reset plans"
    )
    campaign_sub = campaign.add_subparsers(dest="campaign_command", required=True)
    campaign_sub.add_parser(
        "validate",
        help="every campaign, journey and segment file, all errors at once, checked against"
        " the warehouse's customer view when it exists; exits 1 on any error",
    ).set_defaults(func=_campaign_validate)
    count = campaign_sub.add_parser(
        "count",
        help="the audience of one campaign: mailed, held out, and left out by reason (consent,"
        " bounces, frequency caps), without planning anything",
    )
    count.add_argument("--campaign", required=True, help="the campaign id")
    count.add_argument("--date", help="the send date, YYYY-MM-DD; default: the as-of date")
    count.set_defaults(func=_campaign_count)
    preview = campaign_sub.add_parser(
        "preview",
        help="HTML and text previews of each variant on real members of one campaign's"
        " audience, plus its member with the least data; planning and sending nothing",
    )
    preview.add_argument("--campaign", required=True, help="the campaign id")
    preview.add_argument("--members", type=int, default=3, help="members to preview (default 3)")
    preview.add_argument("--date", help="the send date, YYYY-MM-DD; default: the as-of date")
    preview.set_defaults(func=_campaign_preview)
    test_send = campaign_sub.add_parser(
        "test-send",
        help="render each variant for chosen people, or a member's data to seed addresses, as"
        " .eml files (and over SMTP with --smtp); never planned, never in the ledger",
    )
    test_send.add_argument("--campaign", required=True, help="the campaign id")
    test_send.add_argument(
        "--person", action="append", default=[], help="a person_id to render for (repeatable)"
    )
    test_send.add_argument(
        "--to", action="append", default=[], help="a seed address to send a member's email to"
    )
    test_send.add_argument("--out", required=True, help="folder for the .eml files")
    test_send.add_argument("--date", help="the send date, YYYY-MM-DD; default: the as-of date")
    test_send.add_argument("--smtp", action="store_true", help="also deliver over MAILPIPE_SMTP_*")
    test_send.set_defaults(func=_campaign_test_send)
    reset = campaign_sub.add_parser(
        "reset", help="drop a day's plans of which nothing was exported yet"
    )
    reset.add_argument("--date", required=True, help="the send date, YYYY-MM-DD")
    reset.add_argument("--campaign", help="one campaign id; default: every campaign of that day")
    reset.set_defaults(func=_campaign_reset)
    args = parser.parse_args(argv)
    return args.func(args)


if __name__ == "__main__":
    sys.exit(main())
