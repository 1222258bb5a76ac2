"""A/B analysis against the holdout: two-proportion z-test, confidence intervals, lift.

The outcome is 7-day conversion, counted alike for mailed people and the holdout
(intention to treat), so the difference is what mailing caused.
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass, fields

import pandas as pd
from scipy import stats


@dataclass(frozen=True)
class Comparison:
    recipients: int
    conversions: int
    holdout_recipients: int
    holdout_conversions: int
    rate: float
    holdout_rate: float
    difference: float
    difference_low: float
    difference_high: float
    z: float
    p_value: float
    relative_lift: float
    lift_low: float
    lift_high: float

    @property
    def is_significant(self) -> bool:
        return self.p_value < 0.05


def two_proportion_test(
    conversions: int,
    recipients: int,
    holdout_conversions: int,
    holdout_recipients: int,
    confidence: float = 0.95,
) -> Comparison:
    """z-test with the pooled standard error; the interval of the difference uses the
    unpooled one, and the relative lift's interval the delta method on the log risk ratio."""
    x1, n1, x0, n0 = conversions, recipients, holdout_conversions, holdout_recipients
    if min(n1, n0) == 0:
        raise ValueError("both arms need recipients")
    p1, p0 = x1 / n1, x0 / n0
    pooled = (x1 + x0) / (n1 + n0)
    se_pooled = math.sqrt(pooled * (1 - pooled) * (1 / n1 + 1 / n0))
    z = (p1 - p0) / se_pooled if se_pooled > 0 else 0.0
    p_value = float(2 * stats.norm.sf(abs(z)))
    critical = float(stats.norm.ppf(1 - (1 - confidence) / 2))
    se_diff = math.sqrt(p1 * (1 - p1) / n1 + p0 * (1 - p0) / n0)
    difference = p1 - p0
    se_log = math.sqrt((1 - p1) / x1 + (1 - p0) / x0) if x1 > 0 and x0 > 0 else None
    lift, lift_low, lift_high = _relative_lift(p1, p0, se_log, critical)
    return Comparison(
        recipients=n1,
        conversions=x1,
        holdout_recipients=n0,
        holdout_conversions=x0,
        rate=p1,
        holdout_rate=p0,
        difference=difference,
        difference_low=difference - critical * se_diff,
        difference_high=difference + critical * se_diff,
        z=z,
        p_value=p_value,
        relative_lift=lift,
        lift_low=lift_low,
        lift_high=lift_high,
    )


POOLED = "all campaigns"
MAILED = "mailed"


def arms(metrics: pd.DataFrame, outcome: str = "converted_7d") -> pd.DataFrame:
    """metrics: campaign_id, variant, recipients, the outcome's count, is_window_closed (any
    other columns, any number of rows per arm, e.g. one per lifecycle stage). One row per
    campaign and arm, the outcome's count as converted_7d; an arm's window is closed only
    when every row of it is."""
    return metrics.groupby(["campaign_id", "variant"], as_index=False).agg(
        recipients=("recipients", "sum"),
        converted_7d=(outcome, "sum"),
        is_window_closed=("is_window_closed", "all"),
    )


def _relative_lift(rate, holdout_rate, se_log, critical) -> tuple[float, float, float]:
    """rate / holdout_rate - 1 and its interval from the log risk ratio's standard error;
    undefined (NaN) when either arm has no conversions."""
    if se_log is None:
        return float("nan"), float("nan"), float("nan")
    log_ratio = math.log(rate / holdout_rate)
    return (
        rate / holdout_rate - 1,
        math.exp(log_ratio - critical * se_log) - 1,
        math.exp(log_ratio + critical * se_log) - 1,
    )


def compare_with_holdout(metrics: pd.DataFrame, outcome: str = "converted_7d") -> pd.DataFrame:
    """Each mailed variant against its own campaign's holdout, for arms whose 7-day window
    has closed (both the variant's and the holdout's), plus one row pooling every campaign's
    mailed arms against its holdout ("all campaigns", variant "mailed"), stratified by
    campaign. Variants are never pooled by name: variant "a" of one campaign has nothing to
    do with variant "a" of another. `outcome` is any count of recipients measured alike in
    every arm: 7-day conversion by default, or visits (visited_7d)."""
    closed = arms(metrics, outcome)
    closed = closed[closed["is_window_closed"]]
    rows, strata = [], []
    for campaign_id, frame in closed.groupby("campaign_id"):
        holdout = frame[frame["variant"] == "holdout"]
        mailed = frame[frame["variant"] != "holdout"]
        if holdout.empty or int(holdout["recipients"].iloc[0]) == 0 or mailed.empty:
            continue
        h = holdout.iloc[0]
        x0, n0 = int(h["converted_7d"]), int(h["recipients"])
        for arm in mailed.itertuples():
            result = two_proportion_test(int(arm.converted_7d), int(arm.recipients), x0, n0)
            rows.append({"campaign_id": campaign_id, "variant": arm.variant, **asdict(result)})
        strata.append((int(mailed["converted_7d"].sum()), int(mailed["recipients"].sum()), x0, n0))
    if strata:
        rows.append({"campaign_id": POOLED, "variant": MAILED, **asdict(stratified_test(strata))})
    # No campaign with a closed holdout: no rows, but the columns a report reads.
    columns = ["campaign_id", "variant", *(f.name for f in fields(Comparison))]
    frame = pd.DataFrame(rows, columns=columns)
    # Each campaign tests every variant against one holdout: a family of tests, adjusted so
    # that the chance of any false discovery in it stays at 5%.
    frame["p_value_holm"] = (
        frame.groupby("campaign_id")["p_value"].transform(holm) if len(frame) else pd.Series()
    )
    return frame


def wilson_interval(successes: int, n: int, confidence: float = 0.95) -> tuple[float, float]:
    """Wilson score interval of a proportion: sound near 0, where unsubscribes and
    complaints live and the normal interval dips below zero."""
    if n == 0:
        return float("nan"), float("nan")
    z = float(stats.norm.ppf(1 - (1 - confidence) / 2))
    p = successes / n
    centre = (p + z**2 / (2 * n)) / (1 + z**2 / n)
    half = z * math.sqrt(p * (1 - p) / n + z**2 / (4 * n**2)) / (1 + z**2 / n)
    # At 0 or n successes the bound is exactly 0 or 1; floating point leaves a crumb.
    low = 0.0 if successes == 0 else max(0.0, centre - half)
    high = 1.0 if successes == n else min(1.0, centre + half)
    return low, high


def holm(p_values) -> pd.Series:
    """Holm's step-down adjustment of a family of p-values (same order, capped at 1)."""
    p_values = pd.Series(p_values, dtype=float)
    order = p_values.sort_values().index
    m = len(p_values)
    adjusted = (p_values[order] * range(m, 0, -1)).cummax().clip(upper=1.0)
    return adjusted.reindex(p_values.index)


@dataclass(frozen=True)
class MeanComparison:
    """A mean outcome per recipient (revenue) against the holdout's."""

    mean: float
    holdout_mean: float
    difference: float
    difference_low: float
    difference_high: float
    p_value: float


def _mean_and_variance(total: float, squares: float, n: int) -> tuple[float, float]:
    mean = total / n
    variance = max(0.0, (squares - n * mean**2) / (n - 1)) if n > 1 else 0.0
    return mean, variance


def welch_test(
    total: float,
    squares: float,
    n: int,
    holdout_total: float,
    holdout_squares: float,
    n0: int,
    confidence: float = 0.95,
) -> MeanComparison:
    """Welch's t-test and interval on a mean per recipient, from each arm's sum and sum of
    squares: unequal variances, Welch–Satterthwaite degrees of freedom."""
    if min(n, n0) < 2:
        raise ValueError("both arms need two recipients or more")
    m1, v1 = _mean_and_variance(total, squares, n)
    m0, v0 = _mean_and_variance(holdout_total, holdout_squares, n0)
    a, b = v1 / n, v0 / n0
    se = math.sqrt(a + b)
    if se == 0:
        return MeanComparison(m1, m0, m1 - m0, m1 - m0, m1 - m0, 1.0 if m1 == m0 else 0.0)
    df = (a + b) ** 2 / ((a**2 / (n - 1) if a else 0.0) + (b**2 / (n0 - 1) if b else 0.0))
    critical = float(stats.t.ppf(1 - (1 - confidence) / 2, df))
    t = (m1 - m0) / se
    return MeanComparison(
        mean=m1,
        holdout_mean=m0,
        difference=m1 - m0,
        difference_low=m1 - m0 - critical * se,
        difference_high=m1 - m0 + critical * se,
        p_value=float(2 * stats.t.sf(abs(t), df)),
    )


def compare_revenue_with_holdout(metrics: pd.DataFrame) -> pd.DataFrame:
    """7-day revenue per recipient of each mailed variant against its campaign's holdout
    (Welch), for closed windows. metrics needs revenue_7d_eur and revenue_7d_sq_eur besides
    what arms() reads. Not pooled across campaigns: their baskets differ too much for one
    standardised mean to say anything a marketer would act on."""
    frame = metrics.assign(revenue_7d_eur=metrics["revenue_7d_eur"].astype(float))
    sums = frame.groupby(["campaign_id", "variant"], as_index=False).agg(
        recipients=("recipients", "sum"),
        revenue=("revenue_7d_eur", "sum"),
        squares=("revenue_7d_sq_eur", "sum"),
        is_window_closed=("is_window_closed", "all"),
    )
    rows = []
    for campaign_id, arms_of in sums[sums["is_window_closed"]].groupby("campaign_id"):
        holdout = arms_of[arms_of["variant"] == "holdout"]
        if holdout.empty or int(holdout["recipients"].iloc[0]) < 2:
            continue
        h = holdout.iloc[0]
        for arm in arms_of[arms_of["variant"] != "holdout"].itertuples():
            if arm.recipients < 2:
                continue
            result = welch_test(
                arm.revenue,
                arm.squares,
                int(arm.recipients),
                h["revenue"],
                h["squares"],
                int(h["recipients"]),
            )
            rows.append({"campaign_id": campaign_id, "variant": arm.variant, **asdict(result)})
    columns = ["campaign_id", "variant", *(f.name for f in fields(MeanComparison))]
    return pd.DataFrame(rows, columns=columns)


def open_windows(metrics: pd.DataFrame) -> pd.DataFrame:
    """The arms whose 7-day window has not closed by the as-of date, with their counts so
    far: listed, never compared, since conversions are still coming in."""
    frame = arms(metrics)
    return frame[~frame["is_window_closed"]].drop(columns="is_window_closed").reset_index(drop=True)


def stratified_test(
    strata: list[tuple[int, int, int, int]], confidence: float = 0.95
) -> Comparison:
    """Mailed against holdout over several campaigns, each a stratum of (conversions,
    recipients, holdout conversions, holdout recipients). Rates are standardised to the
    campaigns' sizes, so a campaign that held out a larger share cannot tilt the result
    (Simpson's paradox); the difference's standard error sums the strata's, weighted."""
    total = sum(n1 + n0 for _, n1, _, n0 in strata)
    rate = holdout_rate = var1 = var0 = 0.0
    for x1, n1, x0, n0 in strata:
        if min(n1, n0) == 0:
            raise ValueError("every stratum needs recipients in both arms")
        weight = (n1 + n0) / total
        p1, p0 = x1 / n1, x0 / n0
        rate += weight * p1
        holdout_rate += weight * p0
        var1 += weight**2 * p1 * (1 - p1) / n1
        var0 += weight**2 * p0 * (1 - p0) / n0
    critical = float(stats.norm.ppf(1 - (1 - confidence) / 2))
    difference = rate - holdout_rate
    se = math.sqrt(var1 + var0)
    z = difference / se if se > 0 else 0.0
    se_log = (
        math.sqrt(var1 / rate**2 + var0 / holdout_rate**2)
        if rate > 0 and holdout_rate > 0
        else None
    )
    lift, lift_low, lift_high = _relative_lift(rate, holdout_rate, se_log, critical)
    return Comparison(
        recipients=sum(s[1] for s in strata),
        conversions=sum(s[0] for s in strata),
        holdout_recipients=sum(s[3] for s in strata),
        holdout_conversions=sum(s[2] for s in strata),
        rate=rate,
        holdout_rate=holdout_rate,
        difference=difference,
        difference_low=difference - critical * se,
        difference_high=difference + critical * se,
        z=z,
        p_value=float(2 * stats.norm.sf(abs(z))),
        relative_lift=lift,
        lift_low=lift_low,
        lift_high=lift_high,
    )
