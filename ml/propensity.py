"""Purchase propensity: will this person order in the next `horizon_days`?

Honest by construction: the model that is evaluated is trained at cutoff as_of - 2*horizon
and judged on the window [as_of - horizon, as_of) it never saw; the model that scores is then
refit at as_of - horizon, the latest cutoff whose labels are complete.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
import pandas as pd
from sklearn.ensemble import HistGradientBoostingClassifier
from sklearn.linear_model import LogisticRegression
from sklearn.metrics import average_precision_score, brier_score_loss, roc_auc_score
from sklearn.pipeline import Pipeline
from sklearn.preprocessing import StandardScaler

from ml.features import FEATURE_COLUMNS, build_features, population, purchase_labels

HORIZON_DAYS = 30


@dataclass
class PropensityResult:
    model: Pipeline
    params: dict
    metrics: dict
    train_cutoff: pd.Timestamp
    eval_cutoff: pd.Timestamp
    example: pd.DataFrame
    baseline_metrics: dict = field(default_factory=dict)


def make_model(random_state: int = 0, **overrides) -> Pipeline:
    params = {
        "learning_rate": 0.08,
        "max_iter": 200,
        "max_leaf_nodes": 15,
        "l2_regularization": 1.0,
    }
    params.update(overrides)
    return Pipeline(
        [
            (
                "classifier",
                HistGradientBoostingClassifier(
                    random_state=random_state, early_stopping=False, **params
                ),
            )
        ]
    )


def make_baseline() -> Pipeline:
    return Pipeline(
        [("scale", StandardScaler()), ("classifier", LogisticRegression(max_iter=1000))]
    )


def top_decile_lift(y_true: np.ndarray, scores: np.ndarray) -> float:
    if y_true.sum() == 0:
        return float("nan")
    n = max(1, len(scores) // 10)
    top = np.argsort(-scores, kind="stable")[:n]
    return float(y_true[top].mean() / y_true.mean())


def evaluate(y_true: np.ndarray, scores: np.ndarray) -> dict:
    both_classes = 0 < y_true.sum() < len(y_true)
    return {
        "roc_auc": float(roc_auc_score(y_true, scores)) if both_classes else float("nan"),
        "pr_auc": float(average_precision_score(y_true, scores)) if both_classes else float("nan"),
        "brier": float(brier_score_loss(y_true, scores)),
        "top_decile_lift": top_decile_lift(y_true, scores),
        "base_rate": float(y_true.mean()),
        "rows": int(len(y_true)),
    }


def _dataset(facts: dict[str, pd.DataFrame], first_seen: pd.Series, cutoff, horizon_days):
    people = population(first_seen, cutoff)
    x = build_features(
        people.to_series(), facts["orders"], facts["email_events"], facts["web_events"], cutoff
    )
    y = purchase_labels(x.index, facts["orders"], cutoff, horizon_days)
    return x, y


def train(
    facts: dict[str, pd.DataFrame],
    first_seen: pd.Series,
    as_of: pd.Timestamp,
    horizon_days: int = HORIZON_DAYS,
    random_state: int = 0,
) -> PropensityResult:
    """Train, evaluate on the unseen last window, and refit on the latest complete window."""
    as_of = pd.Timestamp(as_of)
    eval_cutoff = as_of - pd.Timedelta(days=horizon_days)
    train_cutoff = eval_cutoff - pd.Timedelta(days=horizon_days)
    x_train, y_train = _dataset(facts, first_seen, train_cutoff, horizon_days)
    x_eval, y_eval = _dataset(facts, first_seen, eval_cutoff, horizon_days)
    if y_train.nunique() < 2:
        raise ValueError(
            f"cannot train purchase propensity: the window after {train_cutoff:%Y-%m-%d} has "
            f"{int(y_train.sum())} buyers among {len(y_train)} people; more history is needed"
        )

    model = make_model(random_state).fit(x_train, y_train)
    metrics = evaluate(y_eval.to_numpy(), model.predict_proba(x_eval)[:, 1])
    baseline = make_baseline().fit(x_train, y_train)
    baseline_metrics = evaluate(y_eval.to_numpy(), baseline.predict_proba(x_eval)[:, 1])

    final = make_model(random_state).fit(x_eval, y_eval)
    params = {
        "horizon_days": horizon_days,
        "train_cutoff": f"{train_cutoff:%Y-%m-%d %H:%M}",
        "eval_cutoff": f"{eval_cutoff:%Y-%m-%d %H:%M}",
        "train_rows": len(x_train),
        "features": ",".join(FEATURE_COLUMNS),
        **{
            f"hgb_{k}": v
            for k, v in final.named_steps["classifier"].get_params().items()
            if k in ("learning_rate", "max_iter", "max_leaf_nodes", "l2_regularization")
        },
    }
    return PropensityResult(
        model=final,
        params=params,
        metrics=metrics,
        baseline_metrics=baseline_metrics,
        train_cutoff=train_cutoff,
        eval_cutoff=eval_cutoff,
        example=x_eval.head(5).reset_index(drop=True),
    )


def score(
    model: Pipeline, facts: dict[str, pd.DataFrame], first_seen: pd.Series, as_of
) -> pd.DataFrame:
    """Propensity for everyone known at the as-of date, from data strictly before it."""
    people = population(first_seen, pd.Timestamp(as_of) + pd.Timedelta(microseconds=1))
    x = build_features(
        people.to_series(), facts["orders"], facts["email_events"], facts["web_events"], as_of
    )
    return pd.DataFrame(
        {"person_id": x.index, "purchase_propensity": model.predict_proba(x[FEATURE_COLUMNS])[:, 1]}
    )
