"""Personalized sends: the audience that may be mailed, and each due campaign's export."""

import time
from datetime import datetime

import dagster as dg
from dagster_duckdb import DuckDBResource

from email_render import layout
from email_render.campaign import CampaignError, read_campaigns
from email_render.delivery import SmtpSettings
from email_render.journeys import read_journeys, sendable_campaigns
from email_render.render import TEMPLATES_DIR, Renderer
from orchestration import settings, warehouse
from orchestration.checks import freshness_metadata, measure_freshness
from orchestration.privacy import identifiers, privacy_tables, suppression
from orchestration.segments.rules import SegmentError, load_segments
from orchestration.sends import (
    delivering,
    email_schema,
    exporting,
    journey_state,
    planning,
    previewing,
    source_needs,
)
from orchestration.sends.audience import SEND_AUDIENCE_SQL


@dg.asset(group_name="email", deps=["dim_customers"], kinds={"duckdb"})
def suppression_list(duckdb: DuckDBResource) -> dg.MaterializeResult:
    """Salted hashes of every email never to mail: unsubscribes, complaints, bounces, erasures."""
    with duckdb.get_connection() as conn:
        by_reason = suppression.refresh_suppression_list(conn, datetime.now())
    return dg.MaterializeResult(
        metadata={
            "dagster/row_count": sum(by_reason.values()),
            "by_reason": dg.MetadataValue.json(by_reason),
        }
    )


@dg.asset(
    group_name="email",
    deps=[
        suppression_list,
        "dim_customers",
        "dim_products",
        "customer_scores",
        "customer_recommendations",
        "customer_segments",
    ],
    kinds={"duckdb"},
)
def send_audience(duckdb: DuckDBResource) -> dg.MaterializeResult:
    """Everyone who may be mailed today, with their recommendations and scores."""
    with duckdb.get_connection() as conn:
        email_schema.ensure_tables(conn)
        privacy_tables.ensure_tables(conn)
        moved = email_schema.follow_identity_merges(conn)
        conn.execute(
            f"create or replace table email.send_audience as {SEND_AUDIENCE_SQL}",
            [identifiers.salt()],
        )
        frame = conn.execute(
            "select person_id, email, first_name, favourite_category, purchase_propensity from email.send_audience limit 10"
        ).df()
        rows, people = conn.execute(
            "select count(*), (select count(*) from marts.dim_customers) from email.send_audience"
        ).fetchall()[0]
    return dg.MaterializeResult(
        metadata={
            "dagster/row_count": rows,
            "share_of_people": rows / people if people else 0.0,
            "send_history_moved_to_merged_people": dg.MetadataValue.json(moved),
            "preview": dg.MetadataValue.md(warehouse.preview_markdown(frame)),
        }
    )


def _sendable_campaigns() -> list:
    return sendable_campaigns(settings.campaigns_dir(), settings.journeys_dir(), TEMPLATES_DIR)


def _progress_log(context, campaign_id: str):
    """Log export progress about every tenth of the batches, and the last one."""

    def log(done: int, total: int) -> None:
        if done == total or done % max(1, total // 10) == 0:
            context.log.info(f"{campaign_id}: {done:,} of {total:,} batches exported")

    return log


CAMPAIGNS_CHECK = "every_campaign_is_sendable"
CAMPAIGN_FRESHNESS_CHECK = "due_campaigns_have_fresh_sources"
JOURNEY_FRESHNESS_CHECK = "journeys_have_fresh_sources"


def _held(measured, needed: frozenset) -> str | None:
    """Why a send must wait for its sources, or None when they are all current."""
    stale = measured.stale(needed)
    return "; ".join(lag.describe() for lag in stale) if stale else None


def _freshness_check(name: str, measured, held: dict) -> dg.AssetCheckResult:
    return dg.AssetCheckResult(
        check_name=name,
        passed=not held,
        severity=dg.AssetCheckSeverity.ERROR,
        description=(
            f"{len(held)} held back until their sources catch up: "
            + "; ".join(f"{k} ({v})" for k, v in held.items())
            if held
            else None
        ),
        metadata={**freshness_metadata(measured), "held": dg.MetadataValue.json(held)},
    )


@dg.asset(
    group_name="email",
    deps=[send_audience],
    kinds={"jinja", "email"},
    check_specs=[
        dg.AssetCheckSpec(
            CAMPAIGNS_CHECK,
            asset="campaign_sends",
            description="Every campaign file loads, renders and is planned. A broken one fails"
            " alone, named here with its errors; the others are sent.",
        ),
        dg.AssetCheckSpec(
            CAMPAIGN_FRESHNESS_CHECK,
            asset="campaign_sends",
            description="No due campaign was held back because a source it needs is late"
            " (the CRM, email service and shop for every send; the web tracker for audiences"
            " on browsing). A held campaign is not sent and is named here with the lag.",
        ),
    ],
)
def campaign_sends(
    context: dg.AssetExecutionContext, duckdb: DuckDBResource
) -> dg.MaterializeResult:
    """Each campaign due today, guarded, split A/B/n with a holdout, exported exactly once."""
    campaigns, broken = read_campaigns(settings.campaigns_dir(), TEMPLATES_DIR)
    # Highest priority first: under the caps, the first planned gets the slot.
    campaigns = sorted(campaigns, key=lambda c: -c.priority)
    library = load_segments(settings.segments_dir())
    caps = planning.FrequencyCaps.from_settings(_sendable_campaigns())
    sources_of = source_needs.column_sources(settings.dbt_project_dir() / "models")
    results, previews, export_seconds, held = [], {}, 0.0, {}
    with duckdb.get_connection() as conn:
        send_date = warehouse.as_of(conn).date()
        fields = email_schema.audience_fields(conn)
        measured = measure_freshness(conn)
        for campaign in campaigns:
            try:
                needed = source_needs.campaign_needs(campaign, library, sources_of)
                reason = _held(measured, needed) if campaign.is_due(send_date) else None
                if reason:
                    held[campaign.campaign_id] = reason
                    context.log.error(f"{campaign.campaign_id}: held back, not sent: {reason}")
                    continue
                sent = _send_campaign(context, conn, campaign, send_date, fields, caps, library)
            except (CampaignError, SegmentError) as error:
                # Only this campaign's own mistakes: a bug elsewhere still fails the asset.
                dropped = planning.drop_unsent_plan(conn, campaign.campaign_id, send_date)
                broken[campaign.source_path] = str(error)
                kept = "no plan kept" if dropped else "its plan is kept, part was exported"
                context.log.error(f"{campaign.campaign_id}: not sent ({kept}): {error}")
                continue
            if sent is not None:
                result, export_seconds_of_campaign, previews[campaign.campaign_id] = sent
                export_seconds += export_seconds_of_campaign
                results.append(result)
    metadata = {
        "dagster/row_count": sum(r.exported_now + r.already_exported for r in results),
        "send_date": send_date.isoformat(),
        "campaigns_sent": [r.campaign_id for r in results],
        "export_seconds": round(export_seconds, 2),
        "emails_per_second": round(sum(r.exported_now for r in results) / export_seconds)
        if export_seconds
        else 0,
        "by_campaign": dg.MetadataValue.json(
            {
                r.campaign_id: {
                    "planned": r.planned,
                    "exported_now": r.exported_now,
                    "exported_before": r.already_exported,
                    "holdout": r.holdout,
                    "excluded": r.exclusions,
                    "upload": str(r.upload_jsonl),
                }
                for r in results
            }
        ),
    }
    metadata["campaigns_failed"] = dg.MetadataValue.json(broken)
    for campaign_id, index in previews.items():
        metadata[f"previews_{campaign_id}"] = dg.MetadataValue.url(index.as_uri())
    check = dg.AssetCheckResult(
        check_name=CAMPAIGNS_CHECK,
        passed=not broken,
        description=f"{len(broken)} campaign file(s) could not be sent" if broken else None,
        metadata={"broken": dg.MetadataValue.json(broken)},
    )
    metadata["campaigns_held_for_stale_sources"] = dg.MetadataValue.json(held)
    return dg.MaterializeResult(
        metadata=metadata,
        check_results=[check, _freshness_check(CAMPAIGN_FRESHNESS_CHECK, measured, held)],
    )


def _send_campaign(context, conn, campaign, send_date, fields, caps, library):
    """Plan, export and preview one campaign if it is due: its result, export seconds and
    preview index, or None."""
    renderer = Renderer(campaign)
    renderer.validate(*fields)
    if campaign.audience:
        planning.audience_condition(conn, campaign, library)
    if not campaign.is_due(send_date):
        context.log.info(f"{campaign.campaign_id}: not due on {send_date}")
        return None
    sender, domain = settings.sender_address(), settings.sender_domain()
    extra = exporting.recipient_extras(campaign.campaign_id)
    out_dir = layout.export_dir(settings.exports_dir(), campaign.campaign_id, send_date)
    planning.plan(conn, campaign, send_date, caps, library)
    planning.check_frozen_plan(conn, campaign, send_date)
    started = time.perf_counter()
    run = exporting.CampaignRun(campaign, renderer, send_date, out_dir, extra, sender, domain)
    result = exporting.export(run, conn, progress=_progress_log(context, campaign.campaign_id))
    seconds = time.perf_counter() - started
    if settings.smtp() is not None:
        smtp = SmtpSettings(**settings.smtp())
        delivered = delivering.deliver_pending(
            conn, campaign.campaign_id, send_date, out_dir, smtp, sender
        )
        context.log.info(f"{campaign.campaign_id}: {delivered} delivered over SMTP to {smtp.host}")
    context.log.info(
        f"{campaign.campaign_id}: {result.exported_now} exported now, {result.already_exported}"
        f" earlier, {result.holdout} held out, excluded {result.exclusions}"
    )
    return result, seconds, previewing.previews(run, conn, library=library, caps=caps)


def _run_journey(context, conn, journey, as_of, fields, caps) -> journey_state.JourneyRun:
    """Enter, exit and send the due steps of one journey."""
    sender, domain = settings.sender_address(), settings.sender_domain()
    send_date = as_of.date()
    run = journey_state.JourneyRun(journey.journey_id)
    run.entered = journey_state.enter(conn, journey, as_of)
    run.exited_by_purchase = journey_state.exit_buyers(conn, journey, as_of)
    for index, step in enumerate(journey.steps):
        renderer = Renderer(step.campaign)
        renderer.validate(*fields)
        people = journey_state.due(conn, journey, index, as_of)
        run.due[step.name] = len(people)
        if people.empty:
            continue
        run.planned[step.name] = planning.plan_people(conn, step.campaign, send_date, caps, people)
        out_dir = layout.export_dir(settings.exports_dir(), step.campaign.campaign_id, send_date)
        extra = exporting.recipient_extras(step.campaign.campaign_id)
        export_run = exporting.CampaignRun(
            step.campaign, renderer, send_date, out_dir, extra, sender, domain
        )
        exporting.export(
            export_run, conn, progress=_progress_log(context, step.campaign.campaign_id)
        )
        moved, _ = journey_state.advance(conn, journey, index, send_date)
        if index == len(journey.steps) - 1:
            run.completed += moved
    context.log.info(f"{journey.journey_id}: {run}")
    return run


JOURNEYS_CHECK = "every_journey_is_sendable"


@dg.asset(
    group_name="email",
    deps=[campaign_sends],
    kinds={"jinja", "email"},
    check_specs=[
        dg.AssetCheckSpec(
            JOURNEYS_CHECK,
            asset="journey_sends",
            description="Every journey file loads and its due steps render. A broken one fails"
            " alone, named here with its errors; the other journeys go on.",
        ),
        dg.AssetCheckSpec(
            JOURNEY_FRESHNESS_CHECK,
            asset="journey_sends",
            description="No journey was paused because a source it needs is late (the web"
            " tracker for cart and browse abandonment). A paused journey neither enters nor"
            " sends anyone and is named here with the lag.",
        ),
    ],
)
def journey_sends(
    context: dg.AssetExecutionContext, duckdb: DuckDBResource
) -> dg.MaterializeResult:
    """Triggered journeys: who entered, whom a purchase took out, and every step that came due."""
    loaded, broken = read_journeys(settings.journeys_dir(), TEMPLATES_DIR)
    caps = planning.FrequencyCaps.from_settings(_sendable_campaigns())
    runs, held = [], {}
    library = load_segments(settings.segments_dir())
    sources_of = source_needs.column_sources(settings.dbt_project_dir() / "models")
    with duckdb.get_connection() as conn:
        as_of = warehouse.as_of(conn)
        fields = email_schema.audience_fields(conn)
        email_schema.ensure_tables(conn)
        measured = measure_freshness(conn)
        for journey in loaded:
            try:
                reason = _held(measured, source_needs.journey_needs(journey, library, sources_of))
                if reason:
                    held[journey.journey_id] = reason
                    context.log.error(f"{journey.journey_id}: paused: {reason}")
                    continue
                runs.append(_run_journey(context, conn, journey, as_of, fields, caps))
            except (CampaignError, SegmentError) as error:
                broken[journey.source_path] = str(error)
                context.log.error(f"{journey.journey_id}: stopped: {error}")
        state = conn.execute(
            "select journey_id, status, count(*) as people from email.journey_state"
            " group by all order by all"
        ).df()
    return dg.MaterializeResult(
        metadata={
            "dagster/row_count": int(state["people"].sum()) if len(state) else 0,
            "entered_now": sum(r.entered for r in runs),
            "sent_now": sum(sum(r.planned.values()) for r in runs),
            "by_journey": dg.MetadataValue.json(
                {
                    r.journey_id: {
                        "entered": r.entered,
                        "exited_by_purchase": r.exited_by_purchase,
                        "due": r.due,
                        "planned": r.planned,
                    }
                    for r in runs
                }
            ),
            "state": dg.MetadataValue.md(state.to_markdown(index=False)),
            "journeys_failed": dg.MetadataValue.json(broken),
            "journeys_held_for_stale_sources": dg.MetadataValue.json(held),
        },
        check_results=[
            dg.AssetCheckResult(
                check_name=JOURNEYS_CHECK,
                passed=not broken,
                description=f"{len(broken)} journey file(s) stopped" if broken else None,
                metadata={"broken": dg.MetadataValue.json(broken)},
            ),
            _freshness_check(JOURNEY_FRESHNESS_CHECK, measured, held),
        ],
    )
