"""The campaign measurement report: one self-contained HTML page with tables and charts."""

from __future__ import annotations

import base64
import io
from pathlib import Path

import matplotlib

matplotlib.use("Agg")

import matplotlib.pyplot as plt  # noqa: E402
import pandas as pd  # noqa: E402

from ml import experiments  # noqa: E402


def _png(figure) -> str:
    buffer = io.BytesIO()
    figure.savefig(buffer, format="png", dpi=110, bbox_inches="tight")
    plt.close(figure)
    return "data:image/png;base64," + base64.b64encode(buffer.getvalue()).decode("ascii")


def _conversion_chart(pooled: pd.DataFrame, holdout_rate: float, holdout_ci: float) -> str:
    figure, axis = plt.subplots(figsize=(6, 3.5))
    labels = ["holdout", *pooled["variant"]]
    rates = [holdout_rate, *pooled["rate"]]
    errors = [holdout_ci, *((pooled["difference_high"] - pooled["difference_low"]) / 2)]
    axis.bar(
        labels,
        [r * 100 for r in rates],
        yerr=[e * 100 for e in errors],
        capsize=6,
        color=["#999999", *["#2b6cb0"] * len(pooled)],
    )
    axis.set(ylabel="converted within 7 days (%)", title="Conversion by arm, all campaigns")
    return _png(figure)


def _rates_chart(by_campaign: pd.DataFrame) -> str:
    figure, axis = plt.subplots(figsize=(8, 3.5))
    for variant, frame in by_campaign[by_campaign["variant"] != "holdout"].groupby("variant"):
        frame = frame.sort_values("campaign_id")
        axis.plot(
            frame["campaign_id"], frame["open_rate"] * 100, marker="o", label=f"open {variant}"
        )
        axis.plot(
            frame["campaign_id"], frame["click_rate"] * 100, marker="s", label=f"click {variant}"
        )
    axis.set(ylabel="% of delivered", title="Open and click rates by campaign")
    axis.tick_params(axis="x", rotation=70, labelsize=7)
    axis.legend(fontsize=8)
    return _png(figure)


def _table(frame: pd.DataFrame) -> str:
    return frame.to_html(index=False, float_format=lambda v: f"{v:,.4f}", border=0)


def build(metrics: pd.DataFrame, out_path: Path) -> dict:
    """Write the report from campaign_metrics rows; return the headline figures."""
    analysis = experiments.compare_with_holdout(metrics)
    sums = ["recipients", "delivered", "opened", "clicked", "unsubscribed", "converted_7d"]
    money = ["revenue_7d_eur", "attributed_orders", "attributed_revenue_eur"]
    by_campaign = metrics.groupby(["campaign_id", "variant"], as_index=False)[sums + money].sum()
    delivered = by_campaign["delivered"].where(by_campaign["delivered"] > 0)
    by_campaign["open_rate"] = by_campaign["opened"] / delivered
    by_campaign["click_rate"] = by_campaign["clicked"] / delivered
    by_campaign["conversion_rate_7d"] = by_campaign["converted_7d"] / by_campaign["recipients"]
    pooled = analysis[analysis["campaign_id"] == "all campaigns"]
    charts = []
    if not pooled.empty:
        h = pooled.iloc[0]
        p0, n0 = h["holdout_rate"], h["holdout_recipients"]
        charts.append(_conversion_chart(pooled, p0, 1.96 * (p0 * (1 - p0) / n0) ** 0.5))
    if not by_campaign.empty:
        charts.append(_rates_chart(by_campaign))
    segments = metrics.groupby(["variant", "lifecycle_stage"], as_index=False)[sums].sum()
    segments["conversion_rate_7d"] = segments["converted_7d"] / segments["recipients"]
    shown = [
        "campaign_id",
        "variant",
        "recipients",
        "conversions",
        "rate",
        "holdout_rate",
        "difference",
        "difference_low",
        "difference_high",
        "relative_lift",
        "lift_low",
        "lift_high",
        "z",
        "p_value",
    ]
    page = f"""<!doctype html><meta charset="utf-8"><title>Campaign measurement</title>
<style>body{{font-family:sans-serif;margin:2em;max-width:1100px}}table{{border-collapse:collapse;font-size:13px}}
td,th{{padding:3px 8px;border-bottom:1px solid #ddd;text-align:right}}</style>
<h1>Campaign measurement</h1>
<p>Conversion is any order within 7 days of being assigned to a campaign, mailed or held out,
so each variant is compared with its holdout like for like (two-proportion z-test, 95%
intervals; relative lift by the log risk ratio). Attributed orders are last-click within 7
days. Segments are lifecycle stages at the as-of date.</p>
{"".join(f'<img src="{c}" alt="chart">' for c in charts)}
<h2>Variants against the holdout</h2>{_table(analysis[shown]) if not analysis.empty else "<p>No campaign kept a holdout.</p>"}
<h2>By campaign and variant</h2>{_table(by_campaign)}
<h2>By variant and lifecycle stage</h2>{_table(segments)}
"""
    out_path.parent.mkdir(parents=True, exist_ok=True)
    out_path.write_text(page, encoding="utf-8")
    headline = {"campaigns": int(metrics["campaign_id"].nunique()), "analysis_rows": len(analysis)}
    for row in pooled.itertuples():
        headline[f"lift_{row.variant}"] = float(row.difference)
        headline[f"p_value_{row.variant}"] = float(row.p_value)
    return {"headline": headline, "analysis": analysis}
