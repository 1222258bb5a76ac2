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
                }
            )
    return pd.DataFrame(rows)


def test_a_planted_lift_over_the_holdout_is_found_with_an_interval_around_it():
    analysis = experiments.compare_with_holdout(_planted(0.06, 0.08, 0.05))
    pooled = analysis[analysis["campaign_id"] == "all campaigns"].set_index("variant")
    for variant, true_difference in (("a", 0.01), ("b", 0.03)):
        row = pooled.loc[variant]
        assert row["p_value"] < 0.01
        half_width = (row["difference_high"] - row["difference_low"]) / 2
        assert abs(row["difference"] - true_difference) < 1.5 * half_width
        assert row["lift_low"] > 0
    assert len(analysis) == 2 * 8 + 2  # each campaign's variants, and both pooled


def test_no_lift_is_not_declared_significant():
    analysis = experiments.compare_with_holdout(_planted(0.05, 0.05, 0.05, seed=11))
    pooled = analysis[analysis["campaign_id"] == "all campaigns"]
    assert (pooled["p_value"] > 0.05).all()
    assert ((pooled["difference_low"] < 0) & (pooled["difference_high"] > 0)).all()


def test_campaigns_without_a_holdout_are_left_out():
    frame = _planted(0.06, 0.08, 0.05, n_campaigns=2)
    frame = frame[~((frame["campaign_id"] == "c1") & (frame["variant"] == "holdout"))]
    analysis = experiments.compare_with_holdout(frame)
    assert set(analysis["campaign_id"]) == {"c0", "all campaigns"}
    pooled_a = analysis[(analysis["campaign_id"] == "all campaigns") & (analysis["variant"] == "a")]
    assert int(pooled_a["recipients"].iloc[0]) == 4_000  # c1's arms are not pooled either


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
