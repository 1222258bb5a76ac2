"""Every score for every person at the as-of date, in one frame: what customer_scores holds."""

from __future__ import annotations

import pandas as pd

from ml import classifiers, clv
from ml.features import FeatureCache


def score_everyone(
    features: FeatureCache,
    orders: pd.DataFrame,
    as_of,
    champions: dict[str, tuple[object, str]],
    clv_model: tuple[clv.ClvModel, int, str],
    personas: pd.DataFrame,
) -> pd.DataFrame:
    """champions: task name -> (model, version); clv_model: (model, horizon_days, run id);
    personas: person_id, persona. Churn and CLV are null for people who never ordered: both
    models describe buyers."""
    as_of = pd.Timestamp(as_of)
    people = features.at(as_of).index
    out = pd.DataFrame(index=people)
    for task in classifiers.TASKS:
        model, version = champions[task.name]
        out[task.score_column] = classifiers.score(task, model, features, as_of)
        out[f"{task.name}_model_version"] = version
    model, horizon_days, run_id = clv_model
    summary = clv.summarize(orders, as_of)
    predicted = clv.predict(model, summary, horizon_days)
    out["expected_purchases"] = predicted["expected_purchases"]
    out["probability_alive"] = predicted["probability_alive"]
    out["expected_order_value_eur"] = predicted["expected_order_value_eur"]
    out["clv_eur"] = predicted["clv_eur"]
    out["clv_horizon_days"] = horizon_days
    out["clv_model_run_id"] = run_id
    out["persona"] = personas.set_index("person_id")["persona"].reindex(people)
    out["scored_as_of"] = as_of
    return out.reset_index()
