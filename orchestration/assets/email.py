"""Personalized sends: render each campaign for its consenting audience and export it."""

import hashlib

import dagster as dg
from dagster_duckdb import DuckDBResource

from email_render.campaign import load_campaigns
from email_render.export import export_campaign
from email_render.render import TEMPLATES_DIR, Renderer
from orchestration.lib import settings, warehouse
from orchestration.lib.audience import SEND_AUDIENCE_SQL, stream_recipients


def unsubscribe_url(campaign_id: str, person_id: str) -> str:
    token = hashlib.sha256(f"{campaign_id}:{person_id}".encode()).hexdigest()[:24]
    return f"{settings.unsubscribe_base_url()}?p={person_id}&c={campaign_id}&t={token}"


@dg.asset(
    group_name="email",
    deps=[
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
        conn.execute("create schema if not exists email")
        conn.execute(f"create or replace table email.send_audience as {SEND_AUDIENCE_SQL}")
        frame = conn.execute(
            "select person_id, email, first_name, favourite_category, purchase_propensity from email.send_audience limit 10"
        ).df()
        rows, people = conn.execute(
            "select count(*), (select count(*) from marts.dim_customers) from email.send_audience"
        ).fetchone()
    return dg.MaterializeResult(
        metadata={
            "dagster/row_count": rows,
            "share_of_people": rows / people if people else 0.0,
            "preview": dg.MetadataValue.md(warehouse.preview_markdown(frame)),
        }
    )


@dg.asset(group_name="email", deps=[send_audience], kinds={"jinja", "email"})
def campaign_sends(
    context: dg.AssetExecutionContext, duckdb: DuckDBResource
) -> dg.MaterializeResult:
    """Personalized emails for each campaign's consenting audience, as ESP upload files and previews."""
    campaigns = load_campaigns(settings.campaigns_dir(), TEMPLATES_DIR)
    exports = settings.exports_dir()
    summaries = []
    with duckdb.get_connection() as conn:
        send_date = f"{warehouse.as_of(conn):%Y-%m-%d}"
        for campaign in campaigns:
            extra = {
                "postal_address": settings.postal_address(),
                "unsubscribe_url": lambda r, c=campaign.campaign_id: unsubscribe_url(
                    c, r["person_id"]
                ),
            }
            summary = export_campaign(
                Renderer(campaign), stream_recipients(conn, campaign, extra), exports, send_date
            )
            context.log.info(
                f"{campaign.campaign_id}: {summary.sends} sends to {summary.upload_path}"
            )
            summaries.append(summary)
    first = summaries[0] if summaries else None
    return dg.MaterializeResult(
        metadata={
            "dagster/row_count": sum(s.sends for s in summaries),
            "send_date": send_date,
            "sends_by_campaign": dg.MetadataValue.json({s.campaign_id: s.sends for s in summaries}),
            "recipients_without_first_name": sum(s.missing_name for s in summaries),
            "recipients_without_products": sum(s.without_products for s in summaries),
            "upload_files": [str(s.upload_path) for s in summaries],
            "previews": dg.MetadataValue.path(str(first.previews_dir / "index.html"))
            if first
            else None,
            "previews_link": dg.MetadataValue.url((first.previews_dir / "index.html").as_uri())
            if first
            else None,
        }
    )
