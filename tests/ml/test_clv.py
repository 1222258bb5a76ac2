import numpy as np
import pandas as pd
import pytest

from ml import clv

TRUE_BGNBD = clv.BgNbd(r=0.6, alpha=45.0, a=0.9, b=3.5)
TRUE_GG = clv.GammaGamma(p=6.0, q=3.5, gamma=25.0)
# Stated tolerance: each parameter within 20% of the truth on 10,000 simulated buyers.
TOLERANCE = 0.20


@pytest.fixture(scope="module")
def simulated():
    ages = np.random.default_rng(7).uniform(60, 730, 10_000)
    return clv.simulate(TRUE_BGNBD, TRUE_GG, ages, seed=11)


def test_fit_recovers_the_parameters_purchases_were_simulated_from(simulated):
    model = clv.fit(simulated)
    assert model.converged
    for name, truth in {**vars(TRUE_BGNBD), **vars(TRUE_GG)}.items():
        fitted = getattr(model.bgnbd if name in vars(TRUE_BGNBD) else model.gamma_gamma, name)
        assert fitted == pytest.approx(truth, rel=TOLERANCE), name


def test_predictions_match_the_simulated_future(simulated):
    """Buyers simulated for 730 days and summarized at 365: predicted purchases in the next
    365 days add up to what the simulation then produced, within 10%."""
    rng = np.random.default_rng(3)
    n = 8_000
    lam = rng.gamma(TRUE_BGNBD.r, 1 / TRUE_BGNBD.alpha, n)
    drop = rng.beta(TRUE_BGNBD.a, TRUE_BGNBD.b, n)
    rows, later = [], np.zeros(n)
    for i in range(n):
        t, times = 0.0, []
        while True:
            t += rng.exponential(1 / lam[i])
            if t >= 730:
                break
            times.append(t)
            if rng.random() < drop[i]:
                break
        before = [x for x in times if x < 365]
        later[i] = len(times) - len(before)
        rows.append((len(before), before[-1] if before else 0.0, 365.0))
    summary = pd.DataFrame(rows, columns=["frequency", "recency", "age"])
    predicted = clv.expected_purchases(TRUE_BGNBD, summary, 365)
    assert predicted.sum() == pytest.approx(later.sum(), rel=0.10)


def test_summary_counts_repeat_purchases_before_the_cutoff():
    orders = pd.DataFrame(
        {
            "person_id": ["a", "a", "a", "b", "a"],
            "ordered_at": pd.to_datetime(
                ["2026-01-01", "2026-01-11", "2026-01-31", "2026-02-01", "2026-03-05"]
            ),
            "total_amount_eur": [10.0, 20.0, 30.0, 5.0, 999.0],
        }
    )
    s = clv.summarize(orders, pd.Timestamp("2026-03-01"))
    # T runs to the last day before the cutoff, 2026-02-28, as in Fader, Hardie & Lee.
    assert s.loc["a"].to_dict() == {
        "frequency": 2.0,
        "recency": 30.0,
        "age": 58.0,
        "orders": 3.0,
        "monetary": 20.0,
        "repeat_monetary": 25.0,
    }
    assert s.loc["b", "frequency"] == 0 and np.isnan(s.loc["b", "repeat_monetary"])


def test_a_transaction_is_a_customer_day_and_refunds_are_not_purchases():
    orders = pd.DataFrame(
        {
            "person_id": ["a", "a", "a", "a", "b"],
            "ordered_at": pd.to_datetime(
                [
                    "2026-01-01 09:00",
                    "2026-01-01 17:00",
                    "2026-01-05 00:00",
                    "2026-01-07 00:00",
                    "2026-01-02 00:00",
                ]
            ),
            "total_amount_eur": [10.0, 5.0, 40.0, -40.0, 0.0],
        }
    )
    s = clv.summarize(orders, pd.Timestamp("2026-02-01"))
    assert s.loc["a", "frequency"] == 1 and s.loc["a", "orders"] == 2
    assert s.loc["a", "monetary"] == 27.5  # (10 + 5, then 40) / 2
    assert s.loc["a", "repeat_monetary"] == 40.0
    assert s.loc["b", "orders"] == 1  # a free order is a purchase, worth nothing


def test_clv_discounts_later_purchases_and_dates_the_next_order():
    summary = pd.DataFrame(
        {
            "frequency": [5.0],
            "recency": [350.0],
            "age": [365.0],
            "orders": [6.0],
            "monetary": [50.0],
            "repeat_monetary": [50.0],
        },
        index=["regular"],
    )
    model = clv.ClvModel(TRUE_BGNBD, TRUE_GG, buyers=1, converged=True)
    plain = clv.predict(model, summary, 365, cutoff=pd.Timestamp("2026-01-01"))
    discounted = clv.predict(model, summary, 365, annual_discount_rate=0.1)
    assert 0.9 * plain["clv_eur"].iloc[0] < discounted["clv_eur"].iloc[0] < plain["clv_eur"].iloc[0]
    assert plain["expected_purchases_30d"].iloc[0] < plain["expected_purchases_90d"].iloc[0]
    assert plain["expected_purchases_365d"].iloc[0] == pytest.approx(
        plain["expected_purchases"].iloc[0]
    )
    next_order = plain["predicted_next_order_at"].iloc[0]
    assert pd.Timestamp("2026-01-01") < next_order < pd.Timestamp("2026-12-31")


def test_lapsed_buyers_are_less_likely_alive_and_worth_less():
    summary = pd.DataFrame(
        {
            "frequency": [5.0, 5.0, 0.0],
            "recency": [350.0, 60.0, 0.0],
            "age": [365.0, 365.0, 365.0],
            "orders": [6.0, 6.0, 1.0],
            "monetary": [50.0, 50.0, 50.0],
            "repeat_monetary": [50.0, 50.0, np.nan],
        },
        index=["recent", "lapsed", "one_time"],
    )
    model = clv.ClvModel(TRUE_BGNBD, TRUE_GG, buyers=3, converged=True)
    out = clv.predict(model, summary, 365)
    assert out.loc["recent", "probability_alive"] > 0.8
    assert out.loc["lapsed", "probability_alive"] < 0.3
    assert out.loc["one_time", "probability_alive"] == 1.0  # BG/NBD: no repeat, no dropout yet
    assert out.loc["recent", "clv_eur"] > out.loc["lapsed", "clv_eur"]
    np.testing.assert_allclose(
        out["clv_eur"], out["expected_purchases"] * out["expected_order_value_eur"]
    )
    longer = clv.expected_purchases(TRUE_BGNBD, summary, 730)
    assert (longer > out["expected_purchases"].to_numpy()).all()


def test_too_few_buyers_is_a_clear_error():
    with pytest.raises(clv.ClvUnfittable, match="3 buyers"):
        clv.fit(clv.simulate(TRUE_BGNBD, TRUE_GG, np.array([100.0, 200.0, 300.0])))
