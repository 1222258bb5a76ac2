"""Every score for every person at the as-of date, in one frame: what customer_scores holds."""

from __future__ import annotations

import numpy as np
import pandas as pd

from ml import classifiers, clv, uplift
from ml.features import FeatureCache


def score_everyone(
    features: FeatureCache,
    orders: pd.DataFrame,
    as_of,
    champions: dict[str, tuple[object, str]],
    clv_model: tuple[clv.ClvModel, int, str] | None,
    personas: pd.DataFrame,
    clv_discount_rate: float = 0.0,
    skipped: dict[str, str] | None = None,
) -> pd.DataFrame:
    """champions: task name (and uplift.NAME) -> (model, version), (None, None) where there
    is no champion;
    clv_model: (model, horizon_days, run id) or None; personas: person_id, persona;
    skipped: model -> why it could not be trained on this data.

    Churn and CLV are null for people who never ordered: both models describe buyers. A
    score that is null for everyone because its model is missing says why in
    `<score>_missing_reason`."""
    as_of = pd.Timestamp(as_of)
    skipped = skipped or {}
    people = features.at(as_of).index
    out = pd.DataFrame(index=people)
    for task in classifiers.TASKS:
        model, version = champions[task.name]
        if model is None or len(people) == 0:
            out[task.score_column] = np.nan
            out[f"{task.score_column}_missing_reason"] = _missing(task.name, skipped)
        else:
            out[task.score_column] = classifiers.score(task, model, features, as_of)
            out[f"{task.score_column}_missing_reason"] = None
        out[f"{task.name}_model_version"] = version
    model, version = champions.get(uplift.NAME, (None, None))
    if model is None or len(people) == 0:
        out[uplift.SCORE_COLUMN] = np.nan
        out[f"{uplift.SCORE_COLUMN}_missing_reason"] = _missing("uplift", skipped)
    else:
        out[uplift.SCORE_COLUMN] = uplift.score(model, features.at(as_of))
        out[f"{uplift.SCORE_COLUMN}_missing_reason"] = None
    # 1 for the person mailing helps most: "the top 30% by uplift" is uplift_rank_pct > 0.7.
    out["uplift_rank_pct"] = out[uplift.SCORE_COLUMN].rank(pct=True)
    out["uplift_model_version"] = version
    summary = clv.summarize(orders, as_of)
    if clv_model is None:
        model, horizon_days, run_id = None, None, None
        for column in CLV_COLUMNS:
            out[column] = np.nan
        out["predicted_next_order_at"] = pd.NaT
        out["clv_missing_reason"] = _missing("clv", skipped)
    else:
        model, horizon_days, run_id = clv_model
        predicted = clv.predict(model, summary, horizon_days, clv_discount_rate, cutoff=as_of)
        for column in CLV_COLUMNS:
            out[column] = predicted[column]
        out["clv_missing_reason"] = None
    out["clv_horizon_days"] = horizon_days
    out["clv_discount_rate"] = clv_discount_rate
    out["clv_model_run_id"] = run_id
    out["persona"] = personas.set_index("person_id")["persona"].reindex(people)
    out["persona_missing_reason"] = None if len(personas) else _missing("personas", skipped)
    out["scored_as_of"] = as_of
    text = [
        c
        for c in out.columns
        if c == "persona" or c.endswith(("_missing_reason", "_model_version", "_run_id"))
    ]
    out[text] = out[text].astype("string")
    return out.reset_index()


def _missing(model: str, skipped: dict[str, str]) -> str:
    if model in skipped:
        return f"no {model} model: {skipped[model]}"
    return f"no {model} model has been trained yet"


CLV_COLUMNS = (
    "expected_purchases_30d",
    "expected_purchases_90d",
    "expected_purchases_365d",
    "probability_alive",
    "expected_order_value_eur",
    "clv_eur",
    "predicted_next_order_at",
)
