import numpy as np
import pandas as pd

from ml import propensity


def _synthetic(n=600, seed=0):
    """Active people order every ~20 days, dormant ones stopped: the model must tell them apart."""
    rng = np.random.default_rng(seed)
    as_of = pd.Timestamp("2026-10-01")
    rows = []
    for i in range(n):
        active = i % 2 == 0
        last = as_of - pd.Timedelta(days=200 if not active else 0)
        t = as_of - pd.Timedelta(days=400)
        while t < last:
            rows.append((f"p{i}", t, float(rng.gamma(5, 10))))
            t += pd.Timedelta(days=float(rng.exponential(20 if active else 60)))
    orders = pd.DataFrame(rows, columns=["person_id", "ordered_at", "total_amount_eur"])
    empty = pd.DataFrame(
        {"person_id": [], "event_type": [], "occurred_at": pd.to_datetime([]), "session_id": []}
    )
    first_seen = orders.groupby("person_id")["ordered_at"].min()
    return {"orders": orders, "email_events": empty, "web_events": empty}, first_seen, as_of


def test_model_is_evaluated_on_a_window_it_never_saw_and_ranks_buyers_first():
    facts, first_seen, as_of = _synthetic()
    result = propensity.train(facts, first_seen, as_of, horizon_days=30)
    assert result.eval_cutoff == as_of - pd.Timedelta(days=30)
    assert result.train_cutoff == as_of - pd.Timedelta(days=60)
    assert result.metrics["roc_auc"] > 0.8
    assert result.metrics["top_decile_lift"] > 1.5
    assert "person_id" not in result.example.columns


def test_scores_are_probabilities_for_everyone_known_at_the_as_of_date():
    facts, first_seen, as_of = _synthetic(200)
    result = propensity.train(facts, first_seen, as_of, horizon_days=30)
    scores = propensity.score(result.model, facts, first_seen, as_of)
    assert set(scores["person_id"]) == set(first_seen.index)
    assert scores["purchase_propensity"].between(0, 1).all()
