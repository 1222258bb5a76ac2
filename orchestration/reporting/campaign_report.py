"""The campaign measurement report: one self-contained HTML page with tables and charts.

Every comparison on it is `ml.experiments`' own: an arm is compared with its campaign's
holdout only once its 7-day window has closed, and variants are never pooled by name."""

from __future__ import annotations

import base64
import html
import io
import math
from pathlib import Path

import matplotlib

matplotlib.use("Agg")

import matplotlib.pyplot as plt  # noqa: E402
import pandas as pd  # noqa: E402

from ml import experiments, uplift  # noqa: E402

SUMS = [
    "recipients",
    "delivered",
    "opened",
    "clicked",
    "unsubscribed",
    "complained",
    "visited_7d",
    "converted_7d",
]
MONEY = ["revenue_7d_eur", "attributed_orders", "attributed_revenue_eur"]
MISSING = "—"
_NO_SEGMENTS = pd.DataFrame(
    columns=["campaign_id", "segment_at_assignment", "variant", "is_holdout", "is_window_closed"]
)
NOT_RECORDED = "not recorded"  # campaign_metrics' RFM segment where no plan froze one


def _png(figure) -> str:
    buffer = io.BytesIO()
    figure.savefig(buffer, format="png", dpi=110, bbox_inches="tight")
    plt.close(figure)
    return "data:image/png;base64," + base64.b64encode(buffer.getvalue()).decode("ascii")


def _conversion_chart(pooled: pd.Series) -> str:
    figure, axis = plt.subplots(figsize=(6, 3.5))
    half_width = (pooled["difference_high"] - pooled["difference_low"]) / 2
    axis.bar(
        ["holdout", "mailed"],
        [pooled["holdout_rate"] * 100, pooled["rate"] * 100],
        color=["#999999", "#2b6cb0"],
    )
    axis.errorbar(
        ["mailed"], [pooled["rate"] * 100], yerr=[half_width * 100], color="black", capsize=6
    )
    axis.set(
        ylabel="converted within 7 days (%)",
        title="Mailed against holdout, campaigns with closed windows\n"
        "(standardised by campaign; bar: 95% interval of the difference)",
    )
    return _png(figure)


def _rates_chart(by_arm: pd.DataFrame) -> str:
    mailed = by_arm[by_arm["variant"] != "holdout"].sort_values(["campaign_id", "variant"])
    labels = mailed["campaign_id"] + " · " + mailed["variant"]
    # Wide enough that each campaign's label stays legible however many there are.
    figure, axis = plt.subplots(figsize=(max(8, 0.22 * len(mailed)), 4))
    positions = range(len(mailed))
    axis.bar([p - 0.2 for p in positions], mailed["open_rate"] * 100, width=0.4, label="open")
    axis.bar([p + 0.2 for p in positions], mailed["click_rate"] * 100, width=0.4, label="click")
    axis.set_xticks(list(positions), labels)
    axis.set(ylabel="% of delivered", title="Open and click rates by campaign and variant")
    axis.tick_params(axis="x", rotation=70, labelsize=7)
    axis.legend(fontsize=8)
    return _png(figure)


def percent(value) -> str:
    return MISSING if _is_missing(value) else f"{value:.1%}"


def points(value) -> str:
    """A difference of two rates, in percentage points."""
    return MISSING if _is_missing(value) else f"{value * 100:+.2f} pp"


def p_value(value) -> str:
    if _is_missing(value):
        return MISSING
    return "< 0.001" if value < 0.001 else f"{value:.3f}"


def _count(value) -> str:
    return MISSING if _is_missing(value) else f"{int(value):,}"


def _money(value) -> str:
    return MISSING if _is_missing(value) else f"€{float(value):,.2f}"


def _is_missing(value) -> bool:
    return value is None or value is pd.NA or (isinstance(value, float) and math.isnan(value))


def _interval(low, high, as_text) -> str:
    if _is_missing(low) or _is_missing(high):
        return MISSING
    return f"{as_text(low)} to {as_text(high)}"


def _table(rows: list[dict], empty: str) -> str:
    if not rows:
        return f"<p>{html.escape(empty)}</p>"
    head = "".join(f"<th>{html.escape(c)}</th>" for c in rows[0])
    body = "".join(
        "<tr>" + "".join(f"<td>{html.escape(str(v))}</td>" for v in row.values()) + "</tr>"
        for row in rows
    )
    return f"<table><thead><tr>{head}</tr></thead><tbody>{body}</tbody></table>"


def comparison_rows(
    analysis: pd.DataFrame, counted: str = "converted", rate: str = "conversion"
) -> list[dict]:
    """The comparisons as the page shows them; `counted` and `rate` name the outcome."""
    return [
        {
            "campaign": row.campaign_id,
            "variant": row.variant,
            "recipients": _count(row.recipients),
            counted: _count(row.conversions),
            rate: percent(row.rate),
            "holdout recipients": _count(row.holdout_recipients),
            f"holdout {rate}": percent(row.holdout_rate),
            "difference": points(row.difference),
            "95% interval": _interval(row.difference_low, row.difference_high, points),
            "relative lift": percent(row.relative_lift),
            "lift 95% interval": _interval(row.lift_low, row.lift_high, percent),
            "p-value": p_value(row.p_value),
            "p-value, Holm": p_value(row.p_value_holm),
        }
        for row in analysis.itertuples()
    ]


def revenue_rows(compared: pd.DataFrame) -> list[dict]:
    """Revenue per recipient against the holdout, as the page shows it."""
    euros = _euros_per_recipient
    return [
        {
            "campaign": row.campaign_id,
            "variant": row.variant,
            "revenue per recipient": euros(row.mean),
            "holdout": euros(row.holdout_mean),
            "difference": euros(row.difference, signed=True),
            "95% interval (Welch)": _interval(
                row.difference_low, row.difference_high, lambda v: euros(v, signed=True)
            ),
            "p-value": p_value(row.p_value),
        }
        for row in compared.itertuples()
    ]


def incremental_rows(analysis: pd.DataFrame, revenue: pd.DataFrame) -> list[dict]:
    """What each mailed arm bought over what its people would have done unmailed: the
    difference from the holdout times the arm's recipients, conversions with the
    two-proportion interval, revenue with the Welch interval, each scaled alike."""
    money = revenue.set_index(["campaign_id", "variant"])
    rows = []
    for row in analysis.itertuples():
        n = row.recipients
        shown = {
            "campaign": row.campaign_id,
            "variant": row.variant,
            "recipients": _count(n),
            "incremental conversions": _signed_count(row.difference * n),
            "95% interval": _interval(
                row.difference_low * n, row.difference_high * n, _signed_count
            ),
        }
        key = (row.campaign_id, row.variant)
        spent = money.loc[key] if key in money.index else None
        shown["incremental revenue"] = (
            MISSING if spent is None else _signed_euros(spent.difference * n)
        )
        shown["revenue 95% interval (Welch)"] = (
            MISSING
            if spent is None
            else _interval(spent.difference_low * n, spent.difference_high * n, _signed_euros)
        )
        rows.append(shown)
    return rows


def _signed_euros(value) -> str:
    return MISSING if _is_missing(value) else f"€{value:+,.0f}"


def _signed_count(value) -> str:
    return MISSING if _is_missing(value) else f"{value:+,.1f}"


def qini_rows(scores: pd.DataFrame) -> list[dict]:
    """Per campaign, how well each ranking of its held-out people found who the mail moved."""
    rows = []
    for campaign_id, people in scores.groupby("campaign_id", sort=True):
        label, mailed = people["has_converted"].to_numpy(), people["is_mailed"].to_numpy()
        shown = {"campaign": campaign_id, "people": _count(len(people))}
        for name, column in (("uplift", "uplift"), ("propensity", "propensity")):
            coefficient = uplift.qini_coefficient(label, mailed, people[column].to_numpy())
            shown[f"Qini, by {name}"] = (
                MISSING if _is_missing(coefficient) else f"{coefficient:.3f}"
            )
        top = uplift.uplift_at(label, mailed, people["uplift"].to_numpy(), 0.3)
        shown["uplift in the top 30%"] = points(top)
        rows.append(shown)
    return rows


def _qini_chart(scores: pd.DataFrame, campaign_id: str) -> str:
    from ml import plots

    people = scores[scores["campaign_id"] == campaign_id]
    figure = plots.qini(
        people["has_converted"].to_numpy(),
        people["is_mailed"].to_numpy(),
        {"uplift": people["uplift"].to_numpy(), "propensity": people["propensity"].to_numpy()},
        f"{campaign_id}: Qini curve, each person scored by a model fit without them",
    )
    return _png(figure)


def _euros_per_recipient(value, signed: bool = False) -> str:
    if _is_missing(value):
        return MISSING
    return f"€{value:+,.2f}" if signed else f"€{value:,.2f}"


def complaint_rows(by_arm: pd.DataFrame) -> list[dict]:
    """Unsubscribe and complaint rates of each mailed arm, with Wilson intervals: the holdout
    was not mailed and cannot unsubscribe, so these are rates, not comparisons."""
    rows = []
    for row in by_arm[by_arm["variant"] != "holdout"].itertuples():
        shown = {"campaign": row.campaign_id, "variant": row.variant}
        shown["delivered"] = _count(row.delivered)
        for label, count in (("unsubscribe", row.unsubscribed), ("complaint", row.complained)):
            low, high = experiments.wilson_interval(int(count), int(row.delivered))
            shown[f"{label} rate"] = percent(count / row.delivered if row.delivered else None)
            shown[f"{label} 95% interval (Wilson)"] = _interval(low, high, _fine_percent)
        rows.append(shown)
    return rows


def _fine_percent(value) -> str:
    return MISSING if _is_missing(value) else f"{value:.2%}"


def _window(row) -> str:
    if row.is_window_closed:
        return "closed"
    return f"window open until {pd.Timestamp(row.window_closes_at):%Y-%m-%d %H:%M} UTC"


def _breakdown_rows(frame: pd.DataFrame, keys: list[str]) -> list[dict]:
    rows = []
    for row in frame.itertuples():
        shown = {key: getattr(row, key) for key in keys}
        shown.update(
            {
                "window": _window(row),
                "recipients": _count(row.recipients),
                "delivered": _count(row.delivered),
                "open rate": percent(row.open_rate),
                "click rate": percent(row.click_rate),
                "unsubscribe rate": percent(row.unsubscribe_rate),
                "converted in 7 days": f"{_count(row.converted_7d)}"
                f" ({percent(row.conversion_rate_7d)})"
                + ("" if row.is_window_closed else " so far"),
                "revenue in 7 days": _money(row.revenue_7d_eur),
                "attributed orders": _count(row.attributed_orders),
                "attributed revenue": _money(row.attributed_revenue_eur),
            }
        )
        rows.append(shown)
    return rows


def segment_rows(segments: pd.DataFrame) -> list[dict]:
    """Each arm by segment at assignment, next to its campaign's holdout in that segment."""
    rows = []
    closed = segments[segments["is_window_closed"].astype(bool)]
    for (campaign_id, segment), arms_of in closed.groupby(
        ["campaign_id", "segment_at_assignment"], sort=True
    ):
        holdout = arms_of[arms_of["is_holdout"]]
        held_rate = holdout["conversion_rate_7d"].iloc[0] if len(holdout) else None
        for row in arms_of[~arms_of["is_holdout"]].itertuples():
            rows.append(
                {
                    "campaign": campaign_id,
                    "segment at assignment": segment,
                    "variant": row.variant,
                    "recipients": _count(row.recipients),
                    "conversion": percent(row.conversion_rate_7d),
                    "holdout recipients": _count(holdout["recipients"].sum()),
                    "holdout conversion": percent(held_rate),
                    "difference": MISSING
                    if held_rate is None
                    else points(row.conversion_rate_7d - held_rate),
                }
            )
    return rows


def _by(metrics: pd.DataFrame, keys: list[str]) -> pd.DataFrame:
    frame = metrics.groupby(keys, as_index=False).agg(
        **{c: (c, "sum") for c in SUMS + MONEY},
        is_window_closed=("is_window_closed", "all"),
        window_closes_at=("window_closes_at", "max"),
    )
    delivered = frame["delivered"].where(frame["delivered"] > 0)
    frame["open_rate"] = frame["opened"] / delivered
    frame["click_rate"] = frame["clicked"] / delivered
    frame["unsubscribe_rate"] = frame["unsubscribed"] / delivered
    frame["conversion_rate_7d"] = frame["converted_7d"] / frame["recipients"]
    return frame.sort_values(keys).reset_index(drop=True)


def build(
    metrics: pd.DataFrame,
    out_path: Path,
    uplift_scores: pd.DataFrame | None = None,
    segments: pd.DataFrame | None = None,
) -> dict:
    """Write the report from campaign_metrics rows, campaign_segment_metrics rows and,
    where the uplift model could be trained, its cross-fitted scores; return the headline
    figures."""
    analysis = experiments.compare_with_holdout(metrics)
    revenue = experiments.compare_revenue_with_holdout(metrics)
    visits = experiments.compare_with_holdout(metrics, outcome="visited_7d")
    still_open = experiments.open_windows(metrics)
    by_arm = _by(metrics, ["campaign_id", "variant"])
    by_stage = _by(metrics, ["campaign_id", "variant", "lifecycle_stage_at_assignment"])
    rfm_keys = ["campaign_id", "variant", "rfm_segment_at_assignment"]
    recorded = (
        metrics[metrics["rfm_segment_at_assignment"] != NOT_RECORDED]
        if "rfm_segment_at_assignment" in metrics
        else metrics.iloc[:0].assign(rfm_segment_at_assignment=pd.Series(dtype=str))
    )
    by_rfm = _by(recorded, rfm_keys)
    pooled = analysis[analysis["campaign_id"] == experiments.POOLED]
    charts = []
    if not pooled.empty:
        charts.append(_conversion_chart(pooled.iloc[0]))
    if not by_arm[by_arm["variant"] != "holdout"].empty:
        charts.append(_rates_chart(by_arm))
    uplift_scores = uplift_scores if uplift_scores is not None else pd.DataFrame()
    if uplift_scores.empty:
        qini_section = (
            "<p>No uplift model has been trained on this data: see the customer_uplift asset"
            " for why.</p>"
        )
    else:
        latest = (
            metrics[metrics["campaign_id"].isin(uplift_scores["campaign_id"])]
            .sort_values("first_assigned_at")["campaign_id"]
            .iloc[-1]
        )
        qini_section = (
            "<p>Each campaign's people, each scored by a model fit without them (cross-fitting),"
            " ranked by their uplift and by their purchase propensity as of the campaign: a curve above the"
            " straight line found the people the mail moved; the Qini coefficient is the area"
            " between, as a share of a perfect ranking's.</p>"
            f'<img src="{_qini_chart(uplift_scores, latest)}" alt="Qini curve">'
            + _table(qini_rows(uplift_scores), "")
        )
    page = f"""<!doctype html><meta charset="utf-8"><title>Campaign measurement</title>
<style>body{{font-family:sans-serif;margin:2em;max-width:1200px}}table{{border-collapse:collapse;font-size:13px}}
td,th{{padding:3px 8px;border-bottom:1px solid #ddd;text-align:right}}</style>
<h1>Campaign measurement</h1>
<p>Conversion is any order within 7 days of being assigned to a campaign, mailed or held out,
so each variant is compared with its own campaign's holdout like for like (two-proportion
z-test, 95% intervals; relative lift by the log risk ratio; p-values also Holm-adjusted over
each campaign's variants, since they share one holdout). An arm is compared only once its
7-day window has closed before the as-of date; later arms are listed with their counts so far.
Variants are never pooled across campaigns: "all campaigns" puts every campaign's mailed
people against its holdout, standardised by campaign. Attributed orders are last-click within
7 days. Lifecycle stages are each person's when assigned, so a campaign's converters stay in
the stage it found them in.</p>
{"".join(f'<div style="overflow-x:auto"><img src="{c}" alt="chart"></div>' for c in charts)}
<h2 id="comparisons">Variants against the holdout</h2>
{_table(comparison_rows(analysis), "No campaign with a closed window kept a holdout.")}
<h2 id="incremental">What the mail bought</h2>
<p>Conversions and revenue each mailed arm added over what the same people would have done
unmailed: the difference from the holdout times the arm's recipients, with the 95% interval
scaled alike.</p>
{_table(incremental_rows(analysis, revenue), "No campaign with a closed window kept a holdout.")}
<h2 id="revenue">Revenue per recipient against the holdout</h2>
{_table(revenue_rows(revenue), "No campaign with a closed window kept a holdout.")}
<h2 id="visits">Visits within 7 days against the holdout</h2>
<p>A web session of any kind within 7 days of assignment: the first thing an email moves.</p>
{_table(comparison_rows(visits, "visited", "visit rate"), "No campaign with a closed window kept a holdout.")}
<h2 id="uplift">Targeting by uplift</h2>
{qini_section}
<h2 id="complaints">Unsubscribes and complaints</h2>
{_table(complaint_rows(by_arm), "No campaign was mailed yet.")}
<h2 id="open">Windows still open</h2>
{_table(_breakdown_rows(by_arm[~by_arm["is_window_closed"]], ["campaign_id", "variant"]), "Every arm's 7-day window has closed.")}
<h2 id="by-arm">By campaign and variant</h2>
{_table(_breakdown_rows(by_arm, ["campaign_id", "variant"]), "No campaign yet.")}
<h2 id="by-stage">By campaign, variant and lifecycle stage at assignment</h2>
{_table(_breakdown_rows(by_stage, ["campaign_id", "variant", "lifecycle_stage_at_assignment"]), "No campaign yet.")}
<h2 id="by-segment">By campaign, segment at assignment and variant</h2>
<p>Our own campaigns' closed arms, by each segment their people were in when planned (a
person counts in each of theirs), against the holdout of the same segment. Descriptive: no
interval, and many segments make a few large differences by chance.</p>
{_table(segment_rows(segments if segments is not None else _NO_SEGMENTS), "No campaign of ours has a closed window yet.")}
<h2 id="by-rfm">By campaign, variant and RFM segment at assignment</h2>
<p>Frozen in our own send plans when each person was assigned; the email service's campaigns
record none.</p>
{_table(_breakdown_rows(by_rfm, rfm_keys), "No campaign of ours has been planned yet.")}
"""
    out_path.parent.mkdir(parents=True, exist_ok=True)
    out_path.write_text(page, encoding="utf-8")
    headline = {
        "campaigns": int(metrics["campaign_id"].nunique()),
        "comparisons": int((analysis["campaign_id"] != experiments.POOLED).sum()),
        "campaigns_with_open_windows": int(still_open["campaign_id"].nunique()),
    }
    for row in pooled.itertuples():
        headline["lift_mailed"] = float(row.difference)
        headline["p_value_mailed"] = float(row.p_value)
    return {
        "headline": headline,
        "analysis": analysis,
        "revenue": revenue,
        "visits": visits,
        "open_windows": still_open,
    }
