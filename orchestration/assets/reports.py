"""What the mail did: the campaign report, against each campaign's holdout."""

import dagster as dg
import pandas as pd
from dagster_duckdb import DuckDBResource

from email_render import layout
from ml import experiments
from orchestration import settings, warehouse
from orchestration.reporting import campaign_report as campaign_report_page


@dg.asset(
    group_name="reporting",
    deps=["campaign_metrics", "campaign_segment_metrics", "customer_uplift"],
    kinds={"html", "scipy"},
)
def campaign_report(duckdb: DuckDBResource) -> dg.MaterializeResult:
    """HTML report: rates by campaign, variant and segment, and each variant's lift over its holdout."""
    with duckdb.get_connection() as conn:
        metrics = conn.execute("select * from marts.campaign_metrics").df()
        segments = conn.execute("select * from marts.campaign_segment_metrics").df()
        scores = (
            conn.execute("select * from ml.uplift_holdout_scores").df()
            if warehouse.table_exists(conn, "ml", "uplift_holdout_scores")
            else None
        )
    path = layout.campaign_report(settings.exports_dir())
    built = campaign_report_page.build(metrics, path, scores, segments)
    analysis, still_open = built["analysis"], built["open_windows"]
    shown = campaign_report_page.comparison_rows(
        analysis[analysis["campaign_id"] == experiments.POOLED]
    )
    return dg.MaterializeResult(
        metadata={
            "report": dg.MetadataValue.url(path.resolve().as_uri()),
            "report_path": dg.MetadataValue.path(str(path)),
            **built["headline"],
            "lift_over_holdout": dg.MetadataValue.md(
                pd.DataFrame(shown).to_markdown(index=False)
                if shown
                else "no campaign with a closed window kept a holdout"
            ),
            "windows_open": dg.MetadataValue.md(
                still_open.to_markdown(index=False)
                if len(still_open)
                else "every arm's 7-day window has closed"
            ),
        }
    )
