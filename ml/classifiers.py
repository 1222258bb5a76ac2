"""Purchase propensity and churn: calibrated gradient boosting against a logistic baseline.

Honest by construction: the model that is evaluated is trained at cutoff as_of - 2*horizon
and judged on the window [as_of - horizon, as_of) it never saw; the model that scores is then
refit at as_of - horizon, the latest cutoff whose labels are complete, with the same recipe.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass, field

import numpy as np
import pandas as pd
from sklearn.base import clone
from sklearn.calibration import CalibratedClassifierCV, calibration_curve
from sklearn.ensemble import HistGradientBoostingClassifier
from sklearn.inspection import permutation_importance
from sklearn.linear_model import LogisticRegression
from sklearn.metrics import average_precision_score, brier_score_loss, roc_auc_score
from sklearn.model_selection import StratifiedKFold
from sklearn.pipeline import Pipeline
from sklearn.preprocessing import StandardScaler

from ml import clv
from ml.errors import CannotTrain
from ml.features import FEATURE_COLUMNS, FeatureCache, orders_in_window

# Training beyond this many rows buys little accuracy and costs linear time; scoring always
# covers everyone.
MAX_TRAIN_ROWS = 250_000
# The learning curve doubles the training rows from this many while a doubling still adds
# LEARNING_CURVE_MIN_GAIN of holdout ROC AUC: past that, more rows only cost time.
LEARNING_CURVE_FIRST_ROWS = 25_000
LEARNING_CURVE_MIN_GAIN = 0.001
LEARNING_CURVE_EVAL_ROWS = 100_000
IMPORTANCE_ROWS = 5_000
# Fewer people of either outcome than this in a window, and neither calibration folds nor a
# holdout ROC AUC mean anything.
MIN_CLASS_MEMBERS = 10


@dataclass(frozen=True)
class Task:
    """What a classifier predicts: who is in its population at a cutoff, and their label."""

    name: str
    score_column: str
    horizon_days: int
    description: str
    population: Callable[[pd.DataFrame], pd.Series]
    label: Callable[[pd.Index, pd.DataFrame, pd.Timestamp, int], pd.Series]
    # The BG/NBD answer to the same question, as a baseline the classifier must beat.
    bgnbd_baseline: Callable[[pd.Index, pd.DataFrame, pd.Timestamp, int], np.ndarray]


def _bgnbd_purchase(people: pd.Index, orders: pd.DataFrame, cutoff, horizon_days: int):
    """P(an order within the horizon) from BG/NBD fit on orders before the cutoff; people
    who never ordered get the share of first-time buyers the model cannot know about: 0."""
    summary = clv.summarize(orders, cutoff)
    model = clv.fit(summary)
    scores = clv.probability_of_purchase(model.bgnbd, summary, horizon_days)
    return pd.Series(scores, index=summary.index).reindex(people, fill_value=0.0).to_numpy()


def _purchased(people: pd.Index, orders: pd.DataFrame, cutoff, horizon_days: int) -> pd.Series:
    buyers = orders_in_window(orders, cutoff, horizon_days)["person_id"].unique()
    return pd.Series(people.isin(buyers).astype(int), index=people, name="label")


def _churned(people: pd.Index, orders: pd.DataFrame, cutoff, horizon_days: int) -> pd.Series:
    return (1 - _purchased(people, orders, cutoff, horizon_days)).rename("label")


PURCHASE = Task(
    name="purchase_propensity",
    score_column="purchase_propensity",
    horizon_days=30,
    description="Orders in the next 30 days; everyone known before the cutoff.",
    population=lambda features: pd.Series(True, index=features.index),
    label=_purchased,
    bgnbd_baseline=_bgnbd_purchase,
)
CHURN = Task(
    name="churn_risk",
    score_column="churn_probability",
    horizon_days=90,
    description="A past buyer with no order in the next 90 days; past buyers only.",
    population=lambda features: features["has_ordered"] > 0,
    label=_churned,
    bgnbd_baseline=lambda *args: 1.0 - _bgnbd_purchase(*args),
)
TASKS = (PURCHASE, CHURN)


def cutoffs(as_of) -> list[pd.Timestamp]:
    """Every cutoff training, evaluation and scoring need: the as-of date and, per task,
    one and two horizons before it."""
    as_of = pd.Timestamp(as_of)
    needed = {as_of}
    for task in TASKS:
        needed |= {as_of - pd.Timedelta(days=n * task.horizon_days) for n in (1, 2)}
    return sorted(needed)


@dataclass
class TrainingResult:
    task: Task
    model: Pipeline
    params: dict
    metrics: dict
    baseline_metrics: dict
    train_cutoff: pd.Timestamp
    eval_cutoff: pd.Timestamp
    example: pd.DataFrame
    calibration: pd.DataFrame
    importance: pd.DataFrame
    # label, the model's "score", and one column per baseline that could be scored
    eval_scores: pd.DataFrame = field(repr=False, default_factory=pd.DataFrame)
    # "training" and "holdout": the feature rows and label each model saw, person ids dropped
    datasets: dict = field(repr=False, default_factory=dict)
    # name -> holdout metrics of each baseline: "logreg", and "bgnbd" where BG/NBD could be fit
    baselines: dict = field(default_factory=dict)
    baseline_skipped: dict = field(default_factory=dict)
    # rows, roc_auc, fit_seconds per sample size tried; empty when the window is small
    learning_curve: pd.DataFrame = field(default_factory=pd.DataFrame)


def make_model(random_state: int = 0, **overrides) -> Pipeline:
    params = {
        "learning_rate": 0.05,
        "max_iter": 200,
        "max_leaf_nodes": 7,
        "min_samples_leaf": 200,
        "l2_regularization": 1.0,
    }
    params.update(overrides)
    boosting = HistGradientBoostingClassifier(
        random_state=random_state, early_stopping=False, **params
    )
    # Platt scaling on 3 shuffled cross-validated folds (people arrive sorted): boosted trees rank well but their raw
    # probabilities drift, and marketers read these numbers as probabilities. Isotonic
    # calibration was tried and cost ranking quality: its steps tie many customers.
    return Pipeline(
        [
            (
                "classifier",
                CalibratedClassifierCV(
                    boosting,
                    method="sigmoid",
                    cv=StratifiedKFold(3, shuffle=True, random_state=random_state),
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
        "mean_score": float(scores.mean()),
        "rows": int(len(y_true)),
    }


def calibration_table(y_true: np.ndarray, scores: np.ndarray) -> pd.DataFrame:
    """Observed rate against mean predicted probability, per decile of the score."""
    observed, predicted = calibration_curve(y_true, scores, n_bins=10, strategy="quantile")
    return pd.DataFrame({"mean_predicted": predicted, "observed_rate": observed})


def dataset(task: Task, features: FeatureCache, cutoff) -> tuple[pd.DataFrame, pd.Series]:
    x = features.at(cutoff)
    x = x[task.population(x)]
    y = task.label(x.index, features.orders, pd.Timestamp(cutoff), task.horizon_days)
    return x, y


@dataclass(frozen=True)
class SampleSize:
    """How many training rows the model needs, and the learning curve that says so."""

    rows: int
    reason: str
    curve: pd.DataFrame


def learning_curve(
    x: pd.DataFrame,
    y: pd.Series,
    random_state: int = 0,
    max_rows: int = MAX_TRAIN_ROWS,
    first_rows: int | None = None,
    min_gain: float = LEARNING_CURVE_MIN_GAIN,
) -> SampleSize:
    """ROC AUC of the booster (uncalibrated: calibration does not move the ranking) fitted on
    nested random samples of the training window, doubling from `first_rows`, on a fifth of
    the window none of them saw (the holdout window stays unseen until the model is judged);
    the first doubling that adds less than `min_gain` ends it, and the smaller sample is
    enough."""
    first_rows = first_rows or LEARNING_CURVE_FIRST_ROWS
    order = np.random.default_rng(random_state).permutation(len(x))
    checked = min(LEARNING_CURVE_EVAL_ROWS, len(x) // 5)
    available = min(len(x), max_rows)
    capped = len(x) > max_rows
    check = np.sort(order[len(x) - checked :])
    x_check, y_check = x.iloc[check], y.iloc[check]
    if min(available, len(x) - checked) <= first_rows or y_check.nunique() < 2:
        return SampleSize(
            available,
            f"all {available:,} rows of the training window (a learning curve starts at "
            f"{first_rows:,})",
            pd.DataFrame(columns=["rows", "roc_auc", "fit_seconds"]),
        )
    largest = min(available, len(x) - checked)
    sizes = [first_rows]
    while sizes[-1] * 2 < largest:
        sizes.append(sizes[-1] * 2)
    sizes.append(largest)
    booster = make_model(random_state).named_steps["classifier"].estimator
    points = []
    for rows in sizes:
        picked = np.sort(order[:rows])
        started = time.perf_counter()
        fitted = clone(booster).fit(x.iloc[picked], y.iloc[picked])
        seconds = time.perf_counter() - started
        auc = roc_auc_score(y_check, fitted.predict_proba(x_check)[:, 1])
        points.append({"rows": rows, "roc_auc": auc, "fit_seconds": seconds})
        if len(points) > 1 and auc - points[-2]["roc_auc"] < min_gain:
            before = points[-2]
            return SampleSize(
                before["rows"],
                f"{before['rows']:,} rows: going to {rows:,} moved the ROC AUC (on "
                f"{checked:,} rows of the window left out) from {before['roc_auc']:.4f} to "
                f"{auc:.4f} ({auc - before['roc_auc']:+.4f}, less than {min_gain}), so more "
                "rows would only cost time",
                pd.DataFrame(points),
            )
    last = points[-1]
    reason = (
        f"{available:,} rows, the most it trains on (MAX_TRAIN_ROWS) of {len(x):,}"
        if capped
        else f"all {available:,} rows of the training window"
    )
    return SampleSize(
        available,
        f"{reason}: the ROC AUC was still rising ({last['roc_auc']:.4f} at {last['rows']:,})",
        pd.DataFrame(points),
    )


def _subsample(x: pd.DataFrame, y: pd.Series, rows: int, random_state: int):
    if len(x) <= rows:
        return x, y
    picked = np.random.default_rng(random_state).choice(len(x), size=rows, replace=False)
    picked.sort()
    return x.iloc[picked], y.iloc[picked]


def train(
    task: Task,
    features: FeatureCache,
    as_of,
    random_state: int = 0,
    max_train_rows: int = MAX_TRAIN_ROWS,
) -> TrainingResult:
    """Train, evaluate on the unseen last window, and refit on the latest complete window."""
    as_of = pd.Timestamp(as_of)
    eval_cutoff = as_of - pd.Timedelta(days=task.horizon_days)
    train_cutoff = eval_cutoff - pd.Timedelta(days=task.horizon_days)
    x_train, y_train = dataset(task, features, train_cutoff)
    x_eval, y_eval = dataset(task, features, eval_cutoff)
    for name, y, cutoff in (("training", y_train, train_cutoff), ("holdout", y_eval, eval_cutoff)):
        positives = int(y.sum())
        if min(positives, len(y) - positives) < MIN_CLASS_MEMBERS:
            raise CannotTrain(
                f"cannot train {task.name}: the {name} window after {cutoff:%Y-%m-%d} has "
                f"{positives} positives among {len(y)} people ({task.description.rstrip('.')}); "
                f"it needs at least {MIN_CLASS_MEMBERS} of each outcome, so more history is needed"
            )
    size = learning_curve(x_train, y_train, random_state, max_train_rows)
    x_fit, y_fit = _subsample(x_train, y_train, size.rows, random_state)
    model = make_model(random_state).fit(x_fit, y_fit)
    eval_scores = model.predict_proba(x_eval)[:, 1]
    y_true = y_eval.to_numpy()
    metrics = evaluate(y_true, eval_scores)
    baseline = make_baseline().fit(x_fit, y_fit)
    scored = {"label": y_true, "score": eval_scores}
    scored["logreg"] = baseline.predict_proba(x_eval)[:, 1]
    baseline_metrics = evaluate(y_true, scored["logreg"])
    baselines, baseline_skipped = {"logreg": baseline_metrics}, {}
    try:
        scored["bgnbd"] = task.bgnbd_baseline(
            x_eval.index, features.orders, eval_cutoff, task.horizon_days
        )
        baselines["bgnbd"] = evaluate(y_true, scored["bgnbd"])
    except clv.ClvUnfittable as exc:
        baseline_skipped["bgnbd"] = str(exc)

    calibration = calibration_table(y_true, eval_scores)
    x_imp, y_imp = _subsample(x_eval, y_eval, IMPORTANCE_ROWS, random_state)
    permuted = permutation_importance(
        model, x_imp, y_imp, scoring="roc_auc", n_repeats=3, random_state=random_state
    )
    importance = pd.DataFrame(
        {
            "feature": FEATURE_COLUMNS,
            "importance": permuted.importances_mean,
            "std": permuted.importances_std,
        }
    ).sort_values("importance", ascending=False, ignore_index=True)

    x_final, y_final = _subsample(x_eval, y_eval, size.rows, random_state)
    final = make_model(random_state).fit(x_final, y_final)
    boosting = final.named_steps["classifier"].estimator
    params = {
        "task": task.name,
        "label": task.description,
        "horizon_days": task.horizon_days,
        "train_cutoff": f"{train_cutoff:%Y-%m-%d %H:%M}",
        "eval_cutoff": f"{eval_cutoff:%Y-%m-%d %H:%M}",
        "train_rows": len(x_fit),
        "train_rows_reason": size.reason,
        "final_rows": len(x_final),
        "population_at_train_cutoff": len(x_train),
        "calibration": "sigmoid (Platt), 3-fold",
        "features": ",".join(FEATURE_COLUMNS),
        **{
            f"hgb_{k}": v
            for k, v in boosting.get_params().items()
            if k
            in (
                "learning_rate",
                "max_iter",
                "max_leaf_nodes",
                "min_samples_leaf",
                "l2_regularization",
            )
        },
    }
    return TrainingResult(
        task=task,
        model=final,
        params=params,
        metrics=metrics,
        baseline_metrics=baseline_metrics,
        baselines=baselines,
        baseline_skipped=baseline_skipped,
        train_cutoff=train_cutoff,
        eval_cutoff=eval_cutoff,
        example=x_eval.head(5).reset_index(drop=True),
        calibration=calibration,
        importance=importance,
        eval_scores=pd.DataFrame(scored),
        datasets={
            "training": x_fit.assign(label=y_fit.to_numpy()).reset_index(drop=True),
            "holdout": x_eval.assign(label=y_true).reset_index(drop=True),
        },
        learning_curve=size.curve,
    )


def score(task: Task, model: Pipeline, features: FeatureCache, as_of) -> pd.Series:
    """The task's probability for its population at the as-of date, indexed by person_id."""
    x = features.at(as_of)
    x = x[task.population(x)]
    return pd.Series(
        model.predict_proba(x[FEATURE_COLUMNS])[:, 1], index=x.index, name=task.score_column
    )
