"""Figures logged with each run: what an ML engineer opens first when comparing runs."""

from __future__ import annotations

import matplotlib

matplotlib.use("Agg")

import matplotlib.pyplot as plt  # noqa: E402
import pandas as pd  # noqa: E402


def calibration(curve: pd.DataFrame, title: str):
    """Observed rate against mean predicted probability, per decile of the score."""
    figure, axis = plt.subplots(figsize=(5, 5))
    axis.plot([0, 1], [0, 1], linestyle="--", color="grey", label="perfectly calibrated")
    axis.plot(curve["mean_predicted"], curve["observed_rate"], marker="o", label="model")
    axis.set(xlabel="mean predicted probability", ylabel="observed rate", title=title)
    axis.legend(loc="upper left")
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


def close(figure) -> None:
    plt.close(figure)
