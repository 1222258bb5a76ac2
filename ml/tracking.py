"""MLflow bookkeeping: experiments with a project-local artifact store, champion gating."""

from __future__ import annotations

import importlib.metadata
from pathlib import Path

import mlflow
from mlflow.models import infer_signature
from mlflow.tracking import MlflowClient

from ml import plots

CHAMPION = "champion"


def configure(tracking_uri: str, artifacts_dir: Path, experiment: str) -> str:
    """Point MLflow at the project's store and return the experiment id."""
    mlflow.set_tracking_uri(tracking_uri)
    existing = mlflow.get_experiment_by_name(experiment)
    if existing is not None:
        mlflow.set_experiment(experiment_id=existing.experiment_id)
        return existing.experiment_id
    artifacts_dir.mkdir(parents=True, exist_ok=True)
    experiment_id = mlflow.create_experiment(
        experiment, artifact_location=artifacts_dir.resolve().as_uri()
    )
    mlflow.set_experiment(experiment_id=experiment_id)
    return experiment_id


def log_sklearn_model(model, name: str, example, registered_name: str):
    """Log a fitted model with its signature and a person-free input example, and register it."""
    signature = infer_signature(example, model.predict_proba(example)[:, 1])
    return mlflow.sklearn.log_model(
        model,
        name=name,
        signature=signature,
        input_example=example,
        registered_model_name=registered_name,
        serialization_format="cloudpickle",
        # Stated rather than inferred: inference loads the model in a subprocess (seconds per
        # model) to find what a scikit-learn pipeline always needs.
        pip_requirements=MODEL_REQUIREMENTS,
    )


MODEL_REQUIREMENTS = [
    f"{package}=={importlib.metadata.version(package)}"
    for package in ("scikit-learn", "cloudpickle", "numpy", "pandas", "scipy")
]


def promote_if_better(
    registered_name: str,
    version: str,
    metric: str,
    value: float,
    baselines: dict[str, float] | None = None,
) -> tuple[bool, str]:
    """Give `version` the champion alias if it beats every baseline and the current champion
    on `metric`. Without a champion the first version is promoted all the same (something
    must score), and the decision says which baselines it failed to beat.

    Returns whether it was promoted and why, so the run can record the decision."""
    client = MlflowClient()
    try:
        current = client.get_model_version_by_alias(registered_name, CHAMPION)
    except mlflow.exceptions.MlflowException:
        current = None
    beaten = [
        f"{name} ({score:.4f})"
        for name, score in (baselines or {}).items()
        if score == score and not value > score  # a NaN baseline cannot be beaten or lost to
    ]
    if current is None:
        client.set_registered_model_alias(registered_name, CHAMPION, version)
        caveat = f"; it does not beat the baseline {', '.join(beaten)}" if beaten else ""
        return (
            True,
            f"no champion yet: version {version} becomes champion ({metric}={value:.4f}){caveat}",
        )
    if beaten:
        return (
            False,
            f"champion v{current.version} kept: version {version} ({metric}={value:.4f}) does not"
            f" beat the baseline {', '.join(beaten)}",
        )
    champion_value = client.get_run(current.run_id).data.metrics.get(metric)
    if champion_value is None or value > champion_value:
        client.set_registered_model_alias(registered_name, CHAMPION, version)
        return (
            True,
            f"version {version} ({metric}={value:.4f}) beats champion v{current.version} ({champion_value})",
        )
    return (
        False,
        f"champion v{current.version} ({metric}={champion_value:.4f}) kept over version {version} ({value:.4f})",
    )


def load_champion(registered_name: str):
    return mlflow.sklearn.load_model(f"models:/{registered_name}@{CHAMPION}")


def log_classifier_run(result, registered_name: str) -> dict:
    """Log a classifiers.TrainingResult to the active run: parameters, holdout metrics for the
    model and its baseline, calibration and importance plots, and the registered model; then
    gate the champion alias. Returns what the run decided."""
    mlflow.log_params(result.params)
    mlflow.log_metrics({f"holdout_{k}": v for k, v in result.metrics.items()})
    for baseline, metrics in result.baselines.items():
        mlflow.log_metrics({f"baseline_{baseline}_{k}": v for k, v in metrics.items()})
    for baseline, reason in result.baseline_skipped.items():
        mlflow.set_tag(f"baseline_{baseline}_skipped", reason)
    for figure_name, figure in (
        (
            "calibration.png",
            plots.calibration(result.calibration, f"{registered_name} calibration"),
        ),
        ("feature_importance.png", plots.importance(result.importance, registered_name)),
    ):
        mlflow.log_figure(figure, figure_name)
        plots.close(figure)
    mlflow.log_table(result.calibration, "calibration.json")
    mlflow.log_table(result.importance, "feature_importance.json")
    info = log_sklearn_model(result.model, "model", result.example, registered_name)
    version = str(info.registered_model_version)
    promoted, decision = promote_if_better(
        registered_name,
        version,
        "holdout_roc_auc",
        result.metrics["roc_auc"],
        baselines={name: m["roc_auc"] for name, m in result.baselines.items()},
    )
    mlflow.set_tags({"champion_decision": decision, "promoted": str(promoted)})
    return {"version": version, "promoted": promoted, "decision": decision}


def load_champion_with_version(registered_name: str):
    """The champion model and its registry version; (None, None) when there is none yet."""
    try:
        version = MlflowClient().get_model_version_by_alias(registered_name, CHAMPION)
    except mlflow.exceptions.MlflowException:
        return None, None
    return load_champion(registered_name), str(version.version)
