import numpy as np
import pandas as pd
import pytest

from ml import classifiers
from ml.features import FEATURE_COLUMNS, FeatureCache


def _synthetic(n=900, seed=0, shift_days=0):
    """Active people order every ~20 days, dormant ones stopped, a third never ordered: the
    models must tell them apart."""
    rng = np.random.default_rng(seed)
    as_of = pd.Timestamp("2026-10-01")
    rows = []
    for i in range(n):
        if i % 3 == 2:
            continue
        active = i % 3 == 0
        last = as_of - pd.Timedelta(days=260 if not active else 0)
        t = as_of - pd.Timedelta(days=500) + pd.Timedelta(days=float(rng.uniform(0, 30)))
        while t < last:
            rows.append((f"p{i}", t, float(rng.gamma(5, 10))))
            t += pd.Timedelta(days=float(rng.exponential(20 if active else 60)))
    orders = pd.DataFrame(rows, columns=["person_id", "ordered_at", "total_amount_eur"])
    empty = pd.DataFrame(
        {
            "person_id": [],
            "event_type": [],
            "occurred_at": pd.to_datetime([]),
            "session_id": [],
        }
    )
    first_seen = pd.concat(
        [
            orders.groupby("person_id")["ordered_at"].min(),
            pd.Series(as_of - pd.Timedelta(days=400), index=[f"p{i}" for i in range(2, n, 3)]),
        ]
    )
    facts = {"orders": orders, "email_events": empty, "web_events": empty}
    as_of += pd.Timedelta(days=shift_days)
    return FeatureCache.from_facts(facts, first_seen, classifiers.cutoffs(as_of)), as_of


@pytest.fixture(scope="module")
def trained():
    features, as_of = _synthetic()
    return (
        features,
        as_of,
        {t.name: classifiers.train(t, features, as_of) for t in classifiers.TASKS},
    )


def test_models_are_judged_on_a_window_they_never_saw(trained):
    _, as_of, results = trained
    purchase = results["purchase_propensity"]
    assert purchase.eval_cutoff == as_of - pd.Timedelta(days=30)
    assert purchase.train_cutoff == as_of - pd.Timedelta(days=60)
    churn = results["churn_risk"]
    assert churn.eval_cutoff == as_of - pd.Timedelta(days=90)
    assert churn.train_cutoff == as_of - pd.Timedelta(days=180)


def test_buyers_and_churners_are_ranked_first(trained):
    _, _, results = trained
    for result in results.values():
        assert result.metrics["roc_auc"] > 0.8
        assert result.metrics["top_decile_lift"] > 1.2
        assert set(result.baseline_metrics) == set(result.metrics)
        # BG/NBD answers the same question from purchase history alone: a real baseline.
        assert result.baselines["bgnbd"]["roc_auc"] > 0.6
        assert set(result.baselines) == {"logreg", "bgnbd"}


def test_probabilities_are_calibrated_to_the_observed_rate(trained):
    _, _, results = trained
    for result in results.values():
        assert abs(result.metrics["mean_score"] - result.metrics["base_rate"]) < 0.08
        base = result.metrics["base_rate"]
        assert result.metrics["brier"] < base * (1 - base)  # better than predicting the rate
        curve = result.calibration
        assert ((curve["observed_rate"] - curve["mean_predicted"]).abs() < 0.35).all()


def test_importance_covers_every_feature_and_examples_hold_no_person(trained):
    _, _, results = trained
    for result in results.values():
        assert sorted(result.importance["feature"]) == sorted(FEATURE_COLUMNS)
        assert list(result.example.columns) == FEATURE_COLUMNS
        assert "person_id" not in result.example.columns


def test_churn_is_scored_for_past_buyers_and_propensity_for_everyone(trained):
    features, as_of, results = trained
    everyone = features.at(as_of)
    for task in classifiers.TASKS:
        scores = classifiers.score(task, results[task.name].model, features, as_of)
        assert scores.between(0, 1).all()
        expected = everyone[task.population(everyone)].index
        assert sorted(scores.index) == sorted(expected)
    assert len(
        classifiers.score(classifiers.CHURN, results["churn_risk"].model, features, as_of)
    ) < len(everyone)


def test_too_little_history_names_the_window():
    features, as_of = _synthetic(30, shift_days=400)
    with pytest.raises(ValueError, match="churn_risk: the training window after"):
        classifiers.train(classifiers.CHURN, features, as_of)


def test_cutoffs_cover_training_evaluation_and_scoring():
    as_of = pd.Timestamp("2026-10-01")
    days = sorted((as_of - c).days for c in classifiers.cutoffs(as_of))
    assert days == [0, 30, 60, 90, 180]


def _simple_signal(rows: int, seed: int = 0) -> tuple[pd.DataFrame, pd.Series]:
    rng = np.random.default_rng(seed)
    x = pd.DataFrame(rng.normal(size=(rows, 3)), columns=["a", "b", "c"])
    y = pd.Series((x["a"] + 0.5 * rng.normal(size=rows) > 0).astype(int))
    return x, y


def test_a_learning_curve_stops_where_more_rows_no_longer_raise_the_roc_auc():
    x, y = _simple_signal(40_000)
    size = classifiers.learning_curve(x, y, first_rows=1_000, max_rows=40_000)
    # One feature and a threshold: a few thousand rows learn all there is.
    assert size.rows < 16_000, size.reason
    assert "would only cost time" in size.reason
    curve = size.curve
    assert curve["rows"].iloc[-1] == 2 * size.rows
    gain = curve["roc_auc"].iloc[-1] - curve["roc_auc"].iloc[-2]
    assert gain < classifiers.LEARNING_CURVE_MIN_GAIN
    assert (curve["roc_auc"].diff().dropna().iloc[:-1] >= classifiers.LEARNING_CURVE_MIN_GAIN).all()


def test_a_window_smaller_than_the_first_sample_trains_on_every_row_without_a_curve():
    x, y = _simple_signal(3_000)
    size = classifiers.learning_curve(x, y, first_rows=5_000)
    assert size.rows == 3_000 and size.curve.empty
    assert "all 3,000 rows" in size.reason


def test_a_curve_still_rising_at_the_cap_trains_on_the_cap_and_says_so():
    x, y = _simple_signal(20_000)
    size = classifiers.learning_curve(x, y, first_rows=1_000, max_rows=4_000, min_gain=-1.0)
    assert size.rows == 4_000
    assert "MAX_TRAIN_ROWS" in size.reason and "of 20,000" in size.reason
