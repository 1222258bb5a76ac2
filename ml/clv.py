"""Customer lifetime value: BG/NBD for how many purchases a buyer will make, Gamma-Gamma for
how much each will be worth, both fit by maximum likelihood.

Time is measured in days. A buyer is summarized at a cutoff by
- `frequency`: repeat purchases (orders after the first) before the cutoff,
- `recency`: days from the first to the last order,
- `age`: days from the first order to the cutoff (T in Fader, Hardie & Lee 2005),
- `monetary`: mean order value over all their orders, with `orders` the count it averages.

Gamma-Gamma is fit on every order rather than repeat orders only, so one-time buyers inform
the spend model too; its likelihood holds for any set of transactions with their count.
CLV is expected purchases over the horizon times expected spend per purchase, undiscounted.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass

import numpy as np
import pandas as pd
from scipy import optimize, special

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

    def params(self) -> dict[str, float]:
        return {
            **{f"bgnbd_{k}": v for k, v in asdict(self.bgnbd).items()},
            **{f"gg_{k}": v for k, v in asdict(self.gamma_gamma).items()},
        }


def summarize(orders: pd.DataFrame, cutoff: pd.Timestamp) -> pd.DataFrame:
    """One row per person with an order before `cutoff`; orders: person_id, ordered_at,
    total_amount_eur."""
    cutoff = pd.Timestamp(cutoff)
    past = orders[orders["ordered_at"] < cutoff]
    by_person = past.groupby("person_id")
    first = by_person["ordered_at"].min()
    last = by_person["ordered_at"].max()
    count = by_person.size()
    out = pd.DataFrame(
        {
            "frequency": (count - 1).astype(float),
            "recency": (last - first).dt.total_seconds() / 86_400,
            "age": (cutoff - first).dt.total_seconds() / 86_400,
            "orders": count.astype(float),
            "monetary": by_person["total_amount_eur"].mean().astype(float),
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


def fit(summary: pd.DataFrame, random_state: int = 0) -> ClvModel:
    """Fit BG/NBD and Gamma-Gamma to a `summarize` frame."""
    if len(summary) < 20:
        raise ValueError(f"cannot fit CLV: {len(summary)} buyers before the cutoff, need 20")
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

    spend = sample[sample["monetary"] > 0]
    orders_n = spend["orders"].to_numpy(float)
    m = spend["monetary"].to_numpy(float)

    def gg_ll(params):
        return gamma_gamma_log_likelihood(GammaGamma(*params), orders_n, m).sum() / len(m)

    gg, gg_ok = _maximize(gg_ll, np.array([2.0, 2.0, float(m.mean())]))
    return ClvModel(
        BgNbd(*map(float, bg)), GammaGamma(*map(float, gg)), buyers=n, converged=bg_ok and gg_ok
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


def expected_spend(params: GammaGamma, summary: pd.DataFrame) -> np.ndarray:
    """E[value of a future order] given each buyer's mean spend and order count."""
    p, q, v = params.p, params.q, params.gamma
    x = summary["orders"].to_numpy(float)
    m = summary["monetary"].to_numpy(float)
    return p * (v + x * m) / (p * x + q - 1)


def predict(model: ClvModel, summary: pd.DataFrame, horizon_days: int) -> pd.DataFrame:
    """Per buyer: expected purchases and CLV over the horizon, and probability alive."""
    purchases = expected_purchases(model.bgnbd, summary, horizon_days)
    return pd.DataFrame(
        {
            "expected_purchases": purchases,
            "probability_alive": probability_alive(model.bgnbd, summary),
            "expected_order_value_eur": expected_spend(model.gamma_gamma, summary),
            "clv_eur": purchases * expected_spend(model.gamma_gamma, summary),
        },
        index=summary.index,
    )


def holdout_metrics(
    model: ClvModel, summary: pd.DataFrame, orders: pd.DataFrame, cutoff, horizon_days: int
) -> dict[str, float]:
    """Compare predicted purchases after `cutoff` with what the buyers then did."""
    cutoff = pd.Timestamp(cutoff)
    window = orders[
        (orders["ordered_at"] >= cutoff)
        & (orders["ordered_at"] < cutoff + pd.Timedelta(days=horizon_days))
    ]
    actual = window.groupby("person_id").size().reindex(summary.index, fill_value=0).to_numpy()
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
    monetary = rng.gamma(gamma_gamma.p * orders, 1.0 / nu) / orders
    return pd.DataFrame(
        {
            "frequency": frequency,
            "recency": recency,
            "age": ages.astype(float),
            "orders": orders,
            "monetary": monetary,
        },
        index=pd.Index([f"sim{i}" for i in range(n)], name="person_id"),
    )
