import numpy as np
import pandas as pd
import pytest

from ml import experiments


def test_the_z_test_matches_a_hand_computed_example():
    # p1 = 0.6, p0 = 0.4, pooled 0.5: se = sqrt(0.25 * 0.02), z = 0.2 / 0.0707 = 2.828
    result = experiments.two_proportion_test(60, 100, 40, 100)
    assert result.z == pytest.approx(2.8284, abs=1e-4)
    assert result.p_value == pytest.approx(0.00468, abs=1e-5)
    assert result.difference == pytest.approx(0.2)
    assert result.relative_lift == pytest.approx(0.5)


def _planted(rate_a, rate_b, rate_holdout, n_campaigns=8, per_arm=4_000, seed=3):
    rng = np.random.default_rng(seed)
    rows = []
    for c in range(n_campaigns):
        for variant, rate, n in (
            ("a", rate_a, per_arm),
            ("b", rate_b, per_arm),
            ("holdout", rate_holdout, per_arm // 4),
        ):
            rows.append(
                {
                    "campaign_id": f"c{c}",
                    "variant": variant,
                    "lifecycle_stage": "active",
                    "recipients": n,
                    "converted_7d": int(rng.binomial(n, rate)),
                    "is_window_closed": True,
                }
            )
    return pd.DataFrame(rows)


def _pooled(analysis):
    return analysis[analysis["campaign_id"] == experiments.POOLED].iloc[0]


def test_a_planted_lift_over_the_holdout_is_found_with_an_interval_around_it():
    analysis = experiments.compare_with_holdout(_planted(0.06, 0.08, 0.05))
    b = analysis[analysis["variant"] == "b"]
    assert (b["difference_low"] > 0).mean() > 0.5  # most single campaigns see b's 3 points
    pooled = _pooled(analysis)
    assert pooled["variant"] == experiments.MAILED
    assert pooled["p_value"] < 0.001
    half_width = (pooled["difference_high"] - pooled["difference_low"]) / 2
    assert abs(pooled["difference"] - 0.02) < 1.5 * half_width  # a and b mailed alike
    assert pooled["lift_low"] > 0
    assert len(analysis) == 2 * 8 + 1  # each campaign's variants, and mailed pooled


def test_no_lift_is_not_declared_significant():
    pooled = _pooled(experiments.compare_with_holdout(_planted(0.05, 0.05, 0.05, seed=11)))
    assert pooled["p_value"] > 0.05
    assert pooled["difference_low"] < 0 < pooled["difference_high"]


def test_campaigns_without_a_holdout_are_left_out():
    frame = _planted(0.06, 0.08, 0.05, n_campaigns=2)
    frame = frame[~((frame["campaign_id"] == "c1") & (frame["variant"] == "holdout"))]
    analysis = experiments.compare_with_holdout(frame)
    assert set(analysis["campaign_id"]) == {"c0", experiments.POOLED}
    assert _pooled(analysis)["recipients"] == 8_000  # c1's arms are not pooled either


def test_variants_of_the_same_name_are_never_pooled_across_campaigns():
    frame = _planted(0.06, 0.08, 0.05, n_campaigns=3)
    analysis = experiments.compare_with_holdout(frame)
    pooled = analysis[analysis["campaign_id"] == experiments.POOLED]
    assert list(pooled["variant"]) == [experiments.MAILED]
    a = analysis[analysis["variant"] == "a"]
    assert sorted(a["campaign_id"]) == ["c0", "c1", "c2"] and (a["recipients"] == 4_000).all()


def test_an_arm_whose_window_is_still_open_is_listed_not_compared():
    frame = _planted(0.06, 0.08, 0.05, n_campaigns=2)
    still_open = frame["campaign_id"] == "c1"
    frame.loc[still_open, "is_window_closed"] = False
    analysis = experiments.compare_with_holdout(frame)
    assert "c1" not in set(analysis["campaign_id"])
    assert _pooled(analysis)["recipients"] == 8_000
    listed = experiments.open_windows(frame)
    assert set(listed["campaign_id"]) == {"c1"} and len(listed) == 3
    assert listed["converted_7d"].sum() == frame.loc[still_open, "converted_7d"].sum()


def test_a_holdout_larger_in_one_campaign_cannot_fake_a_lift_by_pooling():
    # Simpson's paradox: mailing changes nothing in either campaign, but the campaign with
    # the high base rate held out fewer people. Summing arms would show a lift.
    strata = [(600, 1_000, 60, 100), (100, 1_000, 100, 1_000)]
    result = experiments.stratified_test(strata)
    assert result.difference == pytest.approx(0.0, abs=1e-12)
    naive = experiments.two_proportion_test(700, 2_000, 160, 1_100)
    assert naive.difference > 0.2 and naive.p_value < 0.001
    assert result.p_value > 0.99


def test_the_95_percent_intervals_cover_the_planted_difference_95_percent_of_the_time():
    rng = np.random.default_rng(0)
    covered = covered_lift = 0
    runs = 1_000
    for _ in range(runs):
        x1, x0 = rng.binomial(4_000, 0.08), rng.binomial(1_000, 0.05)
        result = experiments.two_proportion_test(int(x1), 4_000, int(x0), 1_000)
        covered += result.difference_low < 0.03 < result.difference_high
        covered_lift += result.lift_low < 0.6 < result.lift_high
    assert 0.93 < covered / runs < 0.97
    assert 0.93 < covered_lift / runs < 0.97


def test_holm_adjusts_a_campaigns_variants_as_one_family():
    # Hand-computed: sorted 0.01, 0.03, 0.04 times 3, 2, 1 -> 0.03, 0.06, 0.06 (monotone).
    adjusted = experiments.holm([0.04, 0.01, 0.03])
    assert list(adjusted.round(6)) == [0.06, 0.03, 0.06]
    analysis = experiments.compare_with_holdout(_planted(0.06, 0.08, 0.05, n_campaigns=2))
    c0 = analysis[analysis["campaign_id"] == "c0"].set_index("variant")
    low, high = sorted(c0["p_value"])
    assert sorted(c0["p_value_holm"]) == pytest.approx(
        [min(1, 2 * low), min(1, max(2 * low, high))]
    )
    pooled = _pooled(analysis)
    assert pooled["p_value_holm"] == pooled["p_value"]  # a family of one


def _revenue(rng, n, rate, mean_basket=60.0):
    """Revenue per recipient as it is: most buy nothing, buyers' baskets are skewed."""
    return rng.binomial(1, rate, n) * rng.gamma(2.0, mean_basket / 2, n)


def test_the_revenue_interval_covers_a_planted_difference_at_its_stated_rate():
    rng = np.random.default_rng(1)
    truth = (0.08 - 0.05) * 60.0
    runs, covered = 1_000, 0
    for _ in range(runs):
        mailed, holdout = _revenue(rng, 4_000, 0.08), _revenue(rng, 1_000, 0.05)
        result = experiments.welch_test(
            mailed.sum(),
            (mailed**2).sum(),
            len(mailed),
            holdout.sum(),
            (holdout**2).sum(),
            len(holdout),
        )
        covered += result.difference_low < truth < result.difference_high
    assert 0.93 < covered / runs < 0.97


def test_revenue_per_recipient_is_compared_per_campaign_from_sums_and_squares():
    rng = np.random.default_rng(2)
    rows = []
    for variant, n, rate in (("a", 3_000, 0.10), ("holdout", 800, 0.05)):
        revenue = _revenue(rng, n, rate)
        rows.append(
            {
                "campaign_id": "c0",
                "variant": variant,
                "recipients": n,
                "converted_7d": int((revenue > 0).sum()),
                "revenue_7d_eur": revenue.sum(),
                "revenue_7d_sq_eur": (revenue**2).sum(),
                "is_window_closed": True,
                "revenues": revenue,
            }
        )
    frame = pd.DataFrame(rows)
    compared = experiments.compare_revenue_with_holdout(frame.drop(columns="revenues"))
    assert len(compared) == 1
    row = compared.iloc[0]
    a, h = frame["revenues"]
    assert row["mean"] == pytest.approx(a.mean()) and row["holdout_mean"] == pytest.approx(h.mean())
    from scipy import stats

    welch = stats.ttest_ind(a, h, equal_var=False)
    assert row["p_value"] == pytest.approx(welch.pvalue, rel=1e-6)
    assert row["difference_low"] > 0  # twice the buyers: a real lift in revenue


def test_the_wilson_interval_covers_a_rare_rate_and_never_leaves_zero_to_one():
    rng = np.random.default_rng(4)
    covered = 0
    for _ in range(1_000):
        low, high = experiments.wilson_interval(int(rng.binomial(20_000, 0.002)), 20_000)
        assert 0.0 <= low <= high <= 1.0
        covered += low < 0.002 < high
    assert 0.93 < covered / 1_000 < 0.97
    assert experiments.wilson_interval(0, 500)[0] == 0.0


def test_any_counted_outcome_is_compared_like_conversion():
    frame = _planted(0.06, 0.08, 0.05, n_campaigns=2)
    frame["visited_7d"] = frame["converted_7d"] * 3
    visits = experiments.compare_with_holdout(frame, outcome="visited_7d")
    conversions = experiments.compare_with_holdout(frame)
    assert (visits["conversions"] == 3 * conversions["conversions"]).all()
