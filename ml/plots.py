"""Figures logged with each run: what an ML engineer opens first when comparing runs."""

from __future__ import annotations

import matplotlib

matplotlib.use("Agg")

import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
import pandas as pd  # noqa: E402
from sklearn.metrics import (  # noqa: E402
    average_precision_score,
    precision_recall_curve,
    roc_auc_score,
    roc_curve,
)


def calibration(curve: pd.DataFrame, title: str):
    """Observed rate against mean predicted probability, per decile of the score."""
    figure, axis = plt.subplots(figsize=(5, 5))
    axis.plot([0, 1], [0, 1], linestyle="--", color="grey", label="perfectly calibrated")
    axis.plot(curve["mean_predicted"], curve["observed_rate"], marker="o", label="model")
    axis.set(xlabel="mean predicted probability", ylabel="observed rate", title=title)
    axis.legend(loc="upper left")
    figure.tight_layout()
    return figure


def learning_curve(curve: pd.DataFrame, chosen_rows: int, title: str):
    """ROC AUC against training rows, on rows of the training window none of the fits saw:
    where it flattens, more rows only cost time."""
    figure, axis = plt.subplots(figsize=(6, 4))
    axis.plot(curve["rows"], curve["roc_auc"], marker="o", label="booster, uncalibrated")
    axis.axvline(chosen_rows, linestyle="--", color="grey", label=f"trains on {chosen_rows:,}")
    axis.set(xscale="log", xlabel="training rows", ylabel="ROC AUC on rows left out", title=title)
    axis.legend(loc="lower right")
    figure.tight_layout()
    return figure


def importance(frame: pd.DataFrame, title: str):
    """Permutation importance: how much the holdout ROC AUC drops when a feature is shuffled."""
    ordered = frame.sort_values("importance")
    figure, axis = plt.subplots(figsize=(6, 5))
    axis.barh(ordered["feature"], ordered["importance"], xerr=ordered["std"])
    axis.set(xlabel="drop in ROC AUC when shuffled", title=title)
    figure.tight_layout()
    return figure


def transactions_by_frequency(table: pd.DataFrame, title: str):
    """The standard BG/NBD holdout check: mean predicted and actual transactions in the
    holdout, by repeat transactions in the calibration period."""
    figure, axis = plt.subplots(figsize=(6, 4))
    positions = range(len(table))
    axis.plot(positions, table["actual"], marker="o", label="actual")
    axis.plot(positions, table["predicted"], marker="s", linestyle="--", label="BG/NBD")
    axis.set_xticks(list(positions), list(table.index))
    axis.set(
        xlabel="repeat transactions in the calibration period",
        ylabel="mean transactions in the holdout",
        title=title,
    )
    axis.legend(loc="upper left")
    figure.tight_layout()
    return figure


def _has_both_classes(label: np.ndarray) -> bool:
    return 0 < label.sum() < len(label)


def roc(label: np.ndarray, scores: dict[str, np.ndarray], title: str):
    """ROC curve of each scorer on the holdout (the model and its baselines), with its AUC."""
    figure, axis = plt.subplots(figsize=(5, 5))
    axis.plot([0, 1], [0, 1], linestyle="--", color="grey", label="chance")
    if _has_both_classes(label):
        for name, score in scores.items():
            false_positive, true_positive, _ = roc_curve(label, score)
            auc = roc_auc_score(label, score)
            axis.plot(false_positive, true_positive, label=f"{name} (AUC {auc:.3f})")
    axis.set(xlabel="false positive rate", ylabel="true positive rate", title=title)
    axis.legend(loc="lower right")
    figure.tight_layout()
    return figure


def precision_recall(label: np.ndarray, scores: dict[str, np.ndarray], title: str):
    """Precision against recall of each scorer on the holdout; the base rate is the floor."""
    figure, axis = plt.subplots(figsize=(5, 5))
    axis.axhline(label.mean(), linestyle="--", color="grey", label=f"base rate {label.mean():.3f}")
    if _has_both_classes(label):
        for name, score in scores.items():
            precision, recall, _ = precision_recall_curve(label, score)
            average = average_precision_score(label, score)
            axis.plot(recall, precision, label=f"{name} (AP {average:.3f})")
    axis.set(xlabel="recall", ylabel="precision", title=title, ylim=(0, 1.02))
    axis.legend(loc="upper right")
    figure.tight_layout()
    return figure


def recommendation_holdout(evaluation: dict[str, dict[str, float]], title: str):
    """precision@k, recall@k and catalogue coverage of each recommender on the holdout."""
    frame = pd.DataFrame(evaluation).T
    measures = [c for c in frame.columns if c != "people_evaluated"]
    figure, axis = plt.subplots(figsize=(6, 4))
    width = 0.8 / max(1, len(frame))
    for i, (strategy, row) in enumerate(frame.iterrows()):
        positions = [p + i * width for p in range(len(measures))]
        axis.bar(positions, [row[m] for m in measures], width=width, label=strategy)
    axis.set_xticks([p + width * (len(frame) - 1) / 2 for p in range(len(measures))], measures)
    axis.set(ylabel="share", title=title)
    axis.legend()
    figure.tight_layout()
    return figure


def qini(label, is_mailed, scores: dict[str, np.ndarray], title: str):
    """Incremental conversions against the share of people targeted, best-first by each
    scorer; random targeting is the straight line."""
    from ml import uplift

    figure, axis = plt.subplots(figsize=(6, 5))
    for name, score in scores.items():
        k, gain = uplift.qini_curve(label, is_mailed, score)
        coefficient = uplift.qini_coefficient(label, is_mailed, score)
        axis.plot(k / max(1, k[-1]), gain, label=f"{name} (Qini {coefficient:.3f})")
    if len(label):
        axis.plot([0, 1], [0, gain[-1]], linestyle="--", color="grey", label="random")
    axis.set(xlabel="share targeted", ylabel="incremental conversions", title=title)
    axis.legend(loc="upper left")
    figure.tight_layout()
    return figure


def close(figure) -> None:
    plt.close(figure)
