"""What the mail did: the campaign report, against each campaign's holdout."""

import dagster as dg
from dagster_duckdb import DuckDBResource

from email_render import layout
from orchestration import settings
from orchestration.reporting import campaign_report as campaign_report_page


@dg.asset(group_name="reporting", deps=["campaign_metrics"], kinds={"html", "scipy"})
def campaign_report(duckdb: DuckDBResource) -> dg.MaterializeResult:
    """HTML report: rates by campaign, variant and segment, and each variant's lift over its holdout."""
    with duckdb.get_connection() as conn:
        metrics = conn.execute("select * from marts.campaign_metrics").df()
    path = layout.campaign_report(settings.exports_dir())
    built = campaign_report_page.build(metrics, path)
    pooled = built["analysis"]
    pooled = pooled[pooled["campaign_id"] == "all campaigns"] if not pooled.empty else pooled
    return dg.MaterializeResult(
        metadata={
            "report": dg.MetadataValue.url(path.resolve().as_uri()),
            "report_path": dg.MetadataValue.path(str(path)),
            **built["headline"],
            "lift_over_holdout": dg.MetadataValue.md(
                pooled[
                    [
                        "variant",
                        "rate",
                        "holdout_rate",
                        "difference",
                        "difference_low",
                        "difference_high",
                        "p_value",
                    ]
                ].to_markdown(index=False)
                if not pooled.empty
                else "no campaign kept a holdout"
            ),
        }
    )
