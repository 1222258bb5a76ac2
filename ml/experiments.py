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
    if x1 > 0 and x0 > 0:
        log_ratio = math.log(p1 / p0)
        se_log = math.sqrt((1 - p1) / x1 + (1 - p0) / x0)
        lift = p1 / p0 - 1
        lift_low = math.exp(log_ratio - critical * se_log) - 1
        lift_high = math.exp(log_ratio + critical * se_log) - 1
    else:
        lift = lift_low = lift_high = float("nan")
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


def compare_with_holdout(metrics: pd.DataFrame) -> pd.DataFrame:
    """metrics: campaign_id, variant, recipients, converted_7d (any other columns, any
    number of rows per arm). One row per campaign and mailed variant, plus one per variant
    pooled over all campaigns ("all campaigns"), each compared with its holdout."""
    arms = metrics.groupby(["campaign_id", "variant"], as_index=False)[
        ["recipients", "converted_7d"]
    ].sum()
    rows = []
    for campaign_id, frame in [
        *arms.groupby("campaign_id"),
        ("all campaigns", _pooled_over_campaigns_with_holdout(arms)),
    ]:
        holdout = frame[frame["variant"] == "holdout"]
        if holdout.empty or int(holdout["recipients"].iloc[0]) == 0:
            continue
        h = holdout.iloc[0]
        for arm in frame[frame["variant"] != "holdout"].itertuples():
            result = two_proportion_test(
                int(arm.converted_7d),
                int(arm.recipients),
                int(h["converted_7d"]),
                int(h["recipients"]),
            )
            rows.append({"campaign_id": campaign_id, "variant": arm.variant, **asdict(result)})
    # No campaign with a holdout: no rows, but the columns a report reads.
    columns = ["campaign_id", "variant", *(f.name for f in fields(Comparison))]
    return pd.DataFrame(rows, columns=columns)


def _pooled_over_campaigns_with_holdout(arms: pd.DataFrame) -> pd.DataFrame:
    """Arms summed over the campaigns that kept a holdout: randomized within each campaign
    at the same share, so pooling keeps the comparison fair."""
    with_holdout = arms[arms["campaign_id"].isin(arms[arms["variant"] == "holdout"]["campaign_id"])]
    return with_holdout.groupby("variant", as_index=False)[["recipients", "converted_7d"]].sum()
