"""Customer lifetime value: BG/NBD for how many purchases a buyer will make, Gamma-Gamma for
how much each will be worth, both fit by maximum likelihood, as published.

Time is measured in days. A transaction is one customer-period with a purchase (one per
customer per day by default, `PERIOD`), as BG/NBD counts them (Fader, Hardie & Lee 2005):
several orders on one day are one transaction worth their sum. Refunds and zero-value
orders are not purchases; they count in net revenue elsewhere, never here. A buyer is
summarized at a cutoff by
- `frequency`: repeat transactions (periods after the first) before the cutoff,
- `recency`: days from the first to the last transaction,
- `age`: days from the first transaction's period to the last period before the cutoff
  (T in the paper),
- `orders`: transactions, first included, and `monetary` their mean value,
- `repeat_monetary`: the mean value of the repeat transactions (NaN for one-time buyers).

Gamma-Gamma is fit by default, as published (Fader & Hardie 2013), on repeat buyers' mean
repeat transaction value, since the first purchase is known to differ. `SPEND_MODELS` names
the variant that also learns from first purchases (every transaction of every buyer).
CLV is the expected value of the purchases over the horizon, discounted month by month at
an annual rate.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field

import numpy as np
import pandas as pd
from scipy import optimize, special

from ml.errors import CannotTrain

# Beyond this many buyers the fit uses a random sample: the four population parameters are
# pinned down long before, and the likelihood is evaluated hundreds of times.
MAX_FIT_BUYERS = 200_000


@dataclass(frozen=True)
class BgNbd:
    r: float
    alpha: float
    a: float
    b: float


@dataclass(frozen=True)
class GammaGamma:
    p: float
    q: float
    gamma: float


@dataclass(frozen=True)
class ClvModel:
    bgnbd: BgNbd
    gamma_gamma: GammaGamma
    buyers: int
    converged: bool
    spend: str = "repeat"

    def params(self) -> dict[str, float]:
        return {
            **{f"bgnbd_{k}": v for k, v in asdict(self.bgnbd).items()},
            **{f"gg_{k}": v for k, v in asdict(self.gamma_gamma).items()},
        }


PERIOD = "D"
# Which transactions the Gamma-Gamma spend model learns from.
SPEND_MODELS = {
    "repeat": "repeat buyers' mean repeat transaction value, as published",
    "all": "every buyer's mean transaction value, first purchases included",
}


def _period_start(moments: pd.Series, period: str) -> pd.Series:
    # floor is much faster than to_period, and a day is the default period
    if period == "D":
        return moments.dt.floor("D")
    return moments.dt.to_period(period).dt.start_time


def summarize(orders: pd.DataFrame, cutoff: pd.Timestamp, period: str = PERIOD) -> pd.DataFrame:
    """One row per person with a purchase before `cutoff`; orders: person_id, ordered_at,
    total_amount_eur. Orders are grouped into customer-periods (`period` is a pandas
    frequency: "D" a day, "W" a week)."""
    cutoff = pd.Timestamp(cutoff)
    past = orders[(orders["ordered_at"] < cutoff) & (orders["total_amount_eur"] >= 0)]
    periods = (
        past.assign(period_at=_period_start(past["ordered_at"], period))
        .groupby(["person_id", "period_at"], as_index=False)["total_amount_eur"]
        .sum()
        .sort_values(["person_id", "period_at"], kind="stable")
    )
    periods["is_repeat"] = periods.duplicated("person_id")
    by_person = periods.groupby("person_id")
    first = by_person["period_at"].min()
    last = by_person["period_at"].max()
    count = by_person.size()
    # Periods are counted as in the paper: a transaction happens at its period, and the
    # observation ends with the last period before the cutoff (for a cutoff at midnight of
    # 1997-10-01 and days: 1997-09-30, T = 38.86 weeks for a first purchase on 1997-01-01).
    last_observed = _period_start(pd.Series([cutoff - pd.Timedelta(1, "ns")]), period).iloc[0]
    repeat_value = periods[periods["is_repeat"]].groupby("person_id")["total_amount_eur"].mean()
    out = pd.DataFrame(
        {
            "frequency": (count - 1).astype(float),
            "recency": (last - first).dt.total_seconds() / 86_400,
            "age": (last_observed - first).dt.total_seconds() / 86_400,
            "orders": count.astype(float),
            "monetary": by_person["total_amount_eur"].mean().astype(float),
            "repeat_monetary": repeat_value.reindex(count.index).astype(float),
        }
    )
    out.index.name = "person_id"
    return out


def bgnbd_log_likelihood(
    params: BgNbd, frequency: np.ndarray, recency: np.ndarray, age: np.ndarray
) -> np.ndarray:
    """Per-buyer log-likelihood of (x, t_x, T) under BG/NBD (Fader, Hardie & Lee 2005, eq. 6)."""
    r, alpha, a, b = params.r, params.alpha, params.a, params.b
    x = frequency
    a1 = special.gammaln(r + x) - special.gammaln(r) + r * np.log(alpha)
    a2 = (
        special.gammaln(a + b)
        + special.gammaln(b + x)
        - special.gammaln(b)
        - special.gammaln(a + b + x)
    )
    a3 = -(r + x) * np.log(alpha + age)
    repeat = x > 0
    a4 = np.full_like(x, -np.inf, dtype=float)
    a4[repeat] = (
        np.log(a) - np.log(b + x[repeat] - 1) - (r + x[repeat]) * np.log(alpha + recency[repeat])
    )
    return a1 + a2 + np.logaddexp(a3, a4)


def gamma_gamma_log_likelihood(
    params: GammaGamma, orders: np.ndarray, monetary: np.ndarray
) -> np.ndarray:
    """Per-buyer log-likelihood of a mean spend over `orders` transactions (Fader & Hardie 2013)."""
    p, q, v = params.p, params.q, params.gamma
    x, m = orders, monetary
    return (
        special.gammaln(p * x + q)
        - special.gammaln(p * x)
        - special.gammaln(q)
        + q * np.log(v)
        + (p * x - 1) * np.log(m)
        + (p * x) * np.log(x)
        - (p * x + q) * np.log(x * m + v)
    )


def _maximize(loglik, start: np.ndarray) -> tuple[np.ndarray, bool]:
    """Maximize over log-parameters, so every parameter stays positive."""

    def negative(log_params: np.ndarray) -> float:
        value = -loglik(np.exp(log_params))
        return value if np.isfinite(value) else 1e300

    result = optimize.minimize(negative, np.log(start), method="L-BFGS-B")
    return np.exp(result.x), bool(result.success)


class ClvUnfittable(CannotTrain):
    """The data cannot support a CLV fit: too few buyers or repeat buyers."""


MIN_BUYERS = 20
MIN_REPEAT_BUYERS = 10


def spend_inputs(summary: pd.DataFrame, spend: str = "repeat") -> tuple[np.ndarray, np.ndarray]:
    """(x, m) of each buyer for Gamma-Gamma: for `repeat`, repeat transactions and their mean
    value (0 and 0 for one-time buyers, who then get the population mean); for `all`, every
    transaction and the mean of all."""
    if spend == "repeat":
        x = summary["frequency"].to_numpy(float)
        m = np.nan_to_num(summary["repeat_monetary"].to_numpy(float), nan=0.0)
        return x, np.where(x > 0, m, 0.0)
    if spend == "all":
        return summary["orders"].to_numpy(float), summary["monetary"].to_numpy(float)
    raise ValueError(f"unknown spend model {spend!r}; use one of {sorted(SPEND_MODELS)}")


def fit(summary: pd.DataFrame, random_state: int = 0, spend: str = "repeat") -> ClvModel:
    """Fit BG/NBD and Gamma-Gamma to a `summarize` frame."""
    if len(summary) < MIN_BUYERS:
        raise ClvUnfittable(
            f"cannot fit CLV: {len(summary)} buyers before the cutoff, need {MIN_BUYERS}"
        )
    repeaters = int((summary["frequency"] > 0).sum())
    if repeaters < MIN_REPEAT_BUYERS:
        raise ClvUnfittable(
            f"cannot fit CLV: {repeaters} of {len(summary)} buyers bought more than once before"
            f" the cutoff, need {MIN_REPEAT_BUYERS}: with one purchase each, how often people"
            " come back cannot be learned"
        )
    sample = summary
    if len(summary) > MAX_FIT_BUYERS:
        sample = summary.sample(MAX_FIT_BUYERS, random_state=random_state)
    x = sample["frequency"].to_numpy(float)
    t_x = sample["recency"].to_numpy(float)
    t = sample["age"].to_numpy(float)
    n = len(sample)

    def bgnbd_ll(params):
        return bgnbd_log_likelihood(BgNbd(*params), x, t_x, t).sum() / n

    bg, bg_ok = _maximize(bgnbd_ll, np.array([1.0, max(1.0, float(t.mean())), 1.0, 1.0]))

    orders_n, m = spend_inputs(sample, spend)
    keep = (orders_n > 0) & (m > 0)
    orders_n, m = orders_n[keep], m[keep]

    def gg_ll(params):
        return gamma_gamma_log_likelihood(GammaGamma(*params), orders_n, m).sum() / len(m)

    gg, gg_ok = _maximize(gg_ll, np.array([2.0, 2.0, float(m.mean())]))
    return ClvModel(
        BgNbd(*map(float, bg)),
        GammaGamma(*map(float, gg)),
        buyers=n,
        converged=bg_ok and gg_ok,
        spend=spend,
    )


def probability_alive(params: BgNbd, summary: pd.DataFrame) -> np.ndarray:
    r, alpha, a, b = params.r, params.alpha, params.a, params.b
    x = summary["frequency"].to_numpy(float)
    ratio = np.zeros_like(x)
    repeat = x > 0
    ratio[repeat] = (a / (b + x[repeat] - 1)) * (
        (alpha + summary["age"].to_numpy(float)[repeat])
        / (alpha + summary["recency"].to_numpy(float)[repeat])
    ) ** (r + x[repeat])
    return 1.0 / (1.0 + ratio)


def expected_purchases(params: BgNbd, summary: pd.DataFrame, days: float) -> np.ndarray:
    """E[purchases in the next `days`] given each buyer's history (Fader, Hardie & Lee, eq. 10)."""
    r, alpha, a, b = params.r, params.alpha, params.a, params.b
    x = summary["frequency"].to_numpy(float)
    t = summary["age"].to_numpy(float)
    z = days / (alpha + t + days)
    hyp = special.hyp2f1(r + x, b + x, a + b + x - 1, z)
    head = (a + b + x - 1) / (a - 1)
    body = 1 - ((alpha + t) / (alpha + t + days)) ** (r + x) * hyp
    return np.clip(head * body * probability_alive(params, summary), 0.0, None)


def expected_spend(params: GammaGamma, summary: pd.DataFrame, spend: str = "repeat") -> np.ndarray:
    """E[value of a future transaction] given each buyer's spend history (the population mean
    for a buyer with none to go on)."""
    p, q, v = params.p, params.q, params.gamma
    x, m = spend_inputs(summary, spend)
    return p * (v + x * m) / (p * x + q - 1)


def probability_of_purchase(params: BgNbd, summary: pd.DataFrame, days: float) -> np.ndarray:
    """P(at least one purchase in the next `days`): alive, and the first purchase of a
    Poisson rate drawn from Gamma(r + x, alpha + T) comes within `days`. Exact under BG/NBD,
    since a buyer can only drop out right after a purchase."""
    x = summary["frequency"].to_numpy(float)
    scale = params.alpha + summary["age"].to_numpy(float)
    none_if_alive = np.power(scale / (scale + days), params.r + x)
    return probability_alive(params, summary) * (1.0 - none_if_alive)


def median_days_to_next_purchase(params: BgNbd, summary: pd.DataFrame) -> np.ndarray:
    """Days until the median next purchase of a buyer who is still active: their purchase
    rate given the history is Gamma(r + x, alpha + T), so the wait is Pareto II."""
    x = summary["frequency"].to_numpy(float)
    scale = params.alpha + summary["age"].to_numpy(float)
    return scale * (np.power(2.0, 1.0 / (params.r + x)) - 1.0)


def discounted_purchases(
    params: BgNbd, summary: pd.DataFrame, days: float, annual_discount_rate: float
) -> np.ndarray:
    """Expected purchases over `days`, each month's discounted back to the cutoff."""
    months = max(1, int(np.ceil(days / (365.0 / 12))))
    edges = np.linspace(0.0, days, months + 1)
    cumulative = [np.zeros(len(summary))] + [
        expected_purchases(params, summary, float(d)) for d in edges[1:]
    ]
    total = np.zeros(len(summary))
    for k in range(1, months + 1):
        factor = (1.0 + annual_discount_rate) ** (-edges[k] / 365.0)
        total += (cumulative[k] - cumulative[k - 1]) * factor
    return total


def predict(
    model: ClvModel,
    summary: pd.DataFrame,
    horizon_days: int,
    annual_discount_rate: float = 0.0,
    cutoff: pd.Timestamp | None = None,
) -> pd.DataFrame:
    """Per buyer: expected purchases over 30, 90 and 365 days and the horizon, probability
    alive, expected value per order, CLV over the horizon (discounted at the annual rate),
    and, from `cutoff`, the predicted date of the next order (the median wait if active)."""
    spend = expected_spend(model.gamma_gamma, summary, model.spend)
    purchases = expected_purchases(model.bgnbd, summary, horizon_days)
    out = pd.DataFrame(
        {
            "expected_purchases": purchases,
            **{
                f"expected_purchases_{d}d": expected_purchases(model.bgnbd, summary, d)
                for d in (30, 90, 365)
            },
            "probability_alive": probability_alive(model.bgnbd, summary),
            "expected_order_value_eur": spend,
            "clv_eur": discounted_purchases(
                model.bgnbd, summary, horizon_days, annual_discount_rate
            )
            * spend,
        },
        index=summary.index,
    )
    if cutoff is not None:
        wait = median_days_to_next_purchase(model.bgnbd, summary)
        out["predicted_next_order_at"] = pd.Timestamp(cutoff) + pd.to_timedelta(wait, unit="D")
    return out


def holdout_transactions(
    orders: pd.DataFrame, summary: pd.DataFrame, cutoff, horizon_days: int, period: str = PERIOD
) -> np.ndarray:
    """Each summarized buyer's transactions (customer-periods with a purchase) in the
    `horizon_days` after `cutoff`."""
    cutoff = pd.Timestamp(cutoff)
    window = orders[
        (orders["ordered_at"] >= cutoff)
        & (orders["ordered_at"] < cutoff + pd.Timedelta(days=horizon_days))
        & (orders["total_amount_eur"] >= 0)
    ]
    periods = window.assign(period_at=_period_start(window["ordered_at"], period))
    counted = periods.drop_duplicates(["person_id", "period_at"]).groupby("person_id").size()
    return counted.reindex(summary.index, fill_value=0).to_numpy()


def calibration_by_frequency(
    model: ClvModel, summary: pd.DataFrame, actual: np.ndarray, horizon_days: int, top: int = 7
) -> pd.DataFrame:
    """The standard holdout check: mean predicted and actual transactions in the holdout, by
    repeat transactions in the calibration period (the last bucket is `top` or more)."""
    bucket = np.minimum(summary["frequency"].to_numpy(int), top)
    frame = pd.DataFrame(
        {
            "frequency": bucket,
            "predicted": expected_purchases(model.bgnbd, summary, horizon_days),
            "actual": actual,
        }
    )
    table = frame.groupby("frequency").agg(
        buyers=("actual", "size"), predicted=("predicted", "mean"), actual=("actual", "mean")
    )
    table.index = [f"{i}+" if i == top else str(i) for i in table.index]
    table.index.name = "repeat_transactions"
    return table


def holdout_metrics(
    model: ClvModel, summary: pd.DataFrame, orders: pd.DataFrame, cutoff, horizon_days: int
) -> dict[str, float]:
    """Compare predicted purchases after `cutoff` with what the buyers then did."""
    actual = holdout_transactions(orders, summary, cutoff, horizon_days)
    predicted = expected_purchases(model.bgnbd, summary, horizon_days)
    return {
        "purchases_mae": float(np.abs(predicted - actual).mean()),
        "purchases_predicted_total": float(predicted.sum()),
        "purchases_actual_total": float(actual.sum()),
        "purchases_correlation": float(np.corrcoef(predicted, actual)[0, 1])
        if actual.std() > 0
        else float("nan"),
        "buyers": float(len(summary)),
    }


def simulate(
    bgnbd: BgNbd, gamma_gamma: GammaGamma, ages: np.ndarray, seed: int = 0
) -> pd.DataFrame:
    """Buyers drawn from the models' own generative story, summarized like `summarize`: a
    purchase at day 0, then purchases at rate lambda until a dropout after some repeat one."""
    rng = np.random.default_rng(seed)
    n = len(ages)
    lam = rng.gamma(bgnbd.r, 1.0 / bgnbd.alpha, size=n)
    drop = rng.beta(bgnbd.a, bgnbd.b, size=n)
    frequency = np.zeros(n)
    recency = np.zeros(n)
    clock = np.zeros(n)
    active = np.arange(n)
    while len(active):
        clock[active] += rng.exponential(1.0 / lam[active])
        active = active[clock[active] < ages[active]]
        frequency[active] += 1
        recency[active] = clock[active]
        active = active[rng.random(len(active)) >= drop[active]]
    orders = frequency + 1
    nu = rng.gamma(gamma_gamma.q, 1.0 / gamma_gamma.gamma, size=n)
    first = rng.gamma(gamma_gamma.p, 1.0 / nu)
    repeat_total = np.where(
        frequency > 0, rng.gamma(np.maximum(gamma_gamma.p * frequency, 1e-9), 1.0 / nu), 0.0
    )
    return pd.DataFrame(
        {
            "frequency": frequency,
            "recency": recency,
            "age": ages.astype(float),
            "orders": orders,
            "monetary": (first + repeat_total) / orders,
            "repeat_monetary": np.where(
                frequency > 0, repeat_total / np.maximum(frequency, 1), np.nan
            ),
        },
        index=pd.Index([f"sim{i}" for i in range(n)], name="person_id"),
    )


@dataclass(frozen=True)
class ClvFit:
    """A fit at the as-of date, with the check of the same recipe on an earlier holdout."""

    model: ClvModel
    holdout: dict[str, float]
    calibration: pd.DataFrame
    # The per-buyer summaries each fit saw (frequency, recency, T, spend), and the cutoff
    # of the checked fit.
    summaries: dict[str, pd.DataFrame] = field(default_factory=dict, repr=False)
    holdout_cutoff: pd.Timestamp | None = None


def fit_with_holdout(
    orders: pd.DataFrame, as_of, holdout_days: int, spend: str = "repeat"
) -> ClvFit:
    """Fit at `as_of - holdout_days`, compare its predictions with what buyers then did (in
    total and by frequency bucket), and refit on everything before `as_of`."""
    as_of = pd.Timestamp(as_of)
    holdout_cutoff = as_of - pd.Timedelta(days=holdout_days)
    earlier = summarize(orders, holdout_cutoff)
    checked = fit(earlier, spend=spend)
    actual = holdout_transactions(orders, earlier, holdout_cutoff, holdout_days)
    latest = summarize(orders, as_of)
    return ClvFit(
        model=fit(latest, spend=spend),
        holdout=holdout_metrics(checked, earlier, orders, holdout_cutoff, holdout_days),
        calibration=calibration_by_frequency(checked, earlier, actual, holdout_days),
        summaries={"training": latest, "holdout": earlier},
        holdout_cutoff=holdout_cutoff,
    )
