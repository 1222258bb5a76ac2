"""MLflow bookkeeping: experiments with a project-local artifact store, champion gating."""

from __future__ import annotations

import importlib.metadata
from pathlib import Path

import mlflow
from mlflow.models import infer_signature
from mlflow.tracking import MlflowClient

from ml import classifiers, plots, uplift

CHAMPION = "champion"
# MLflow 3's UI opens an experiment without this tag on its GenAI traces view; these are
# model-training experiments, to be opened on their runs.
EXPERIMENT_KIND = {"mlflow.experimentKind": "custom_model_development"}
GIT_COMMIT_TAG = "mlflow.source.git.commit"


def configure(tracking_uri: str, artifacts_dir: Path, experiment: str) -> str:
    """Point MLflow at the project's store and return the experiment id."""
    mlflow.set_tracking_uri(tracking_uri)
    existing = mlflow.get_experiment_by_name(experiment)
    if existing is not None:
        experiment_id = existing.experiment_id
        for key, value in EXPERIMENT_KIND.items():
            if existing.tags.get(key) != value:  # stores made before the tag existed
                MlflowClient().set_experiment_tag(experiment_id, key, value)
    else:
        artifacts_dir.mkdir(parents=True, exist_ok=True)
        experiment_id = mlflow.create_experiment(
            experiment, artifact_location=artifacts_dir.resolve().as_uri(), tags=EXPERIMENT_KIND
        )
    mlflow.set_experiment(experiment_id=experiment_id)
    return experiment_id


def run_tags(git_commit: str | None, dagster_run_id: str | None, as_of) -> dict[str, str]:
    """What ties a run to the code and the pipeline run that made it, and the data's date."""
    tags = {"as_of": f"{as_of:%Y-%m-%d %H:%M}"}
    if git_commit:
        tags[GIT_COMMIT_TAG] = git_commit
    if dagster_run_id:
        tags["dagster_run_id"] = dagster_run_id
    return tags


def log_dataset(frame, name: str, context: str, tags: dict[str, str], targets: str | None = None):
    """The dataset's name, digest, schema and row count as a run input: never its rows."""
    dataset = mlflow.data.from_pandas(frame, name=name, targets=targets)
    mlflow.log_input(dataset, context=context, tags={"rows": str(len(frame)), **tags})


def log_sklearn_model(model, name: str, example, registered_name: str, output=None):
    """Log a fitted model with its signature and a person-free input example, and register it.
    `output` is what the model gives for the example: by default the positive class's
    probability."""
    output = model.predict_proba(example)[:, 1] if output is None else output
    signature = infer_signature(example, output)
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
    first_must_beat_baselines: bool = False,
) -> tuple[bool, str]:
    """Give `version` the champion alias if it beats every baseline and the current champion
    on `metric`. Without a champion the first version is promoted all the same (something
    must score), and the decision says which baselines it failed to beat; unless
    `first_must_beat_baselines`, for a model whose wrong scores would do harm.

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
    if current is None and beaten and first_must_beat_baselines:
        return (
            False,
            f"no champion: version {version} ({metric}={value:.4f}) does not beat the baseline"
            f" {', '.join(beaten)}, so nothing scores until a version does",
        )
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


def log_classifier_run(result, registered_name: str, tags: dict[str, str]) -> dict:
    """Log a classifiers.TrainingResult to the active run: tags, parameters, the training and
    holdout datasets, holdout metrics, ROC, precision-recall, calibration and importance
    plots, and the registered model; each baseline as a child run with the same metrics and
    plots; then gate the champion alias and describe the model and version. Returns what the
    run decided."""
    mlflow.set_tags(tags)
    mlflow.log_params(result.params)
    mlflow.log_metrics({f"holdout_{k}": v for k, v in result.metrics.items()})
    _log_datasets(result, registered_name, tags)
    label = result.eval_scores["label"].to_numpy()
    _log_curves(label, {"model": result.eval_scores["score"].to_numpy()}, registered_name)
    for baseline, reason in result.baseline_skipped.items():
        mlflow.set_tag(f"baseline_{baseline}_skipped", reason)
    figure = plots.importance(result.importance, registered_name)
    mlflow.log_figure(figure, "feature_importance.png")
    plots.close(figure)
    mlflow.log_table(result.calibration, "calibration.json")
    mlflow.log_table(result.importance, "feature_importance.json")
    if not result.learning_curve.empty:
        mlflow.log_table(result.learning_curve, "learning_curve.json")
        figure = plots.learning_curve(
            result.learning_curve, result.params["train_rows"], f"{registered_name}: learning curve"
        )
        mlflow.log_figure(figure, "learning_curve.png")
        plots.close(figure)
    info = log_sklearn_model(result.model, "model", result.example, registered_name)
    version = str(info.registered_model_version)
    parent = mlflow.active_run().info.run_id
    for baseline, metrics in result.baselines.items():
        with mlflow.start_run(run_name=f"baseline {baseline}", nested=True):
            mlflow.set_tags({**tags, "baseline_of": parent, "model_kind": "baseline"})
            mlflow.log_params(
                {"baseline": BASELINES[baseline], "eval_cutoff": result.params["eval_cutoff"]}
            )
            mlflow.log_metrics({f"holdout_{k}": v for k, v in metrics.items()})
            _log_dataset_of(result, "holdout", registered_name, tags)
            _log_curves(
                label,
                {baseline: result.eval_scores[baseline].to_numpy()},
                f"{registered_name} {baseline}",
            )
    promoted, decision = promote_if_better(
        registered_name,
        version,
        "holdout_roc_auc",
        result.metrics["roc_auc"],
        baselines={name: m["roc_auc"] for name, m in result.baselines.items()},
    )
    mlflow.set_tags(
        {"champion_decision": decision, "promoted": str(promoted), "model_kind": "model"}
    )
    describe(result, registered_name, version, decision, tags)
    return {"version": version, "promoted": promoted, "decision": decision}


BASELINES = {
    "logreg": "logistic regression on the same features, standardised",
    "bgnbd": "BG/NBD probability of a purchase in the horizon, fit on orders before the cutoff",
}


def _log_datasets(result, registered_name: str, tags: dict[str, str]) -> None:
    for context in ("training", "holdout"):
        _log_dataset_of(result, context, registered_name, tags)


def _log_dataset_of(result, context: str, registered_name: str, tags: dict[str, str]) -> None:
    cutoff = result.train_cutoff if context == "training" else result.eval_cutoff
    log_dataset(
        result.datasets[context],
        f"{registered_name}_{context}",
        context,
        {
            **{k: v for k, v in tags.items() if k == "as_of"},
            "cutoff": f"{cutoff:%Y-%m-%d %H:%M}",
            "label_window_days": str(result.task.horizon_days),
        },
        targets="label",
    )


def _log_curves(label, scores: dict, title: str) -> None:
    """ROC, precision-recall and calibration on the holdout, as PNG artifacts."""
    figures = {
        "roc_curve.png": plots.roc(label, scores, f"{title}: ROC on the holdout"),
        "precision_recall_curve.png": plots.precision_recall(
            label, scores, f"{title}: precision-recall on the holdout"
        ),
        "calibration.png": plots.calibration(
            classifiers.calibration_table(label, next(iter(scores.values()))),
            f"{title} calibration",
        ),
    }
    for name, figure in figures.items():
        mlflow.log_figure(figure, name)
        plots.close(figure)


def describe(result, registered_name: str, version: str, decision: str, tags: dict) -> None:
    """What the registered model predicts, and what this version is and why it is or is not
    the champion: read in the registry, where runs are not in view."""
    task = result.task
    client = MlflowClient()
    client.update_registered_model(
        registered_name,
        description=(
            f"{task.description} Predicts the probability ({task.score_column}) over the next"
            f" {task.horizon_days} days: gradient boosting calibrated by Platt scaling, trained"
            f" on point-in-time features. The '{CHAMPION}' alias marks the version that scores;"
            " a new version takes it only by beating the champion and every baseline on"
            " holdout ROC AUC."
        ),
    )
    metrics = result.metrics
    client.update_model_version(
        registered_name,
        version,
        description=(
            f"As of {tags.get('as_of')}: trained on {result.params['train_rows']:,} people at"
            f" {result.train_cutoff:%Y-%m-%d}, judged on {metrics['rows']:,} at"
            f" {result.eval_cutoff:%Y-%m-%d} (ROC AUC {metrics['roc_auc']:.3f}, PR AUC"
            f" {metrics['pr_auc']:.3f}, Brier {metrics['brier']:.4f}), refit on the holdout"
            f" window to score. Champion decision: {decision}."
        ),
    )


def log_uplift_run(result: uplift.UpliftResult, registered_name: str, tags: dict) -> dict:
    """Log an uplift.UpliftResult to the active run: parameters, the held-out Qini and top-share
    uplift, a Qini plot of the model against its baselines (each also a child run with the
    same metrics), the datasets, and the registered model; then gate the champion alias on
    the held-out Qini coefficient, which the model must raise above every baseline."""
    mlflow.set_tags({**tags, "model_kind": "model"})
    mlflow.log_params(result.params)
    mlflow.log_metrics({f"holdout_{k}": v for k, v in result.metrics.items()})
    for context, frame in result.datasets.items():
        log_dataset(
            frame,
            f"{registered_name}_{context}",
            context,
            {
                **{k: v for k, v in tags.items() if k == "as_of"},
                "label_window_days": str(uplift.HORIZON_DAYS),
            },
            targets="has_converted",
        )
    scores = result.eval_scores
    label, mailed = scores["label"].to_numpy(), scores["is_mailed"].to_numpy()
    ranked = {name: scores[name].to_numpy() for name in ("score", "propensity", "random")}
    figure = plots.qini(label, mailed, ranked, f"{registered_name}: Qini on held-out people")
    mlflow.log_figure(figure, "qini_curve.png")
    plots.close(figure)
    info = log_sklearn_model(
        result.model,
        "model",
        result.example,
        registered_name,
        output=result.model.predict(result.example),
    )
    version = str(info.registered_model_version)
    parent = mlflow.active_run().info.run_id
    for baseline, metrics in result.baselines.items():
        with mlflow.start_run(run_name=f"baseline {baseline}", nested=True):
            mlflow.set_tags({**tags, "baseline_of": parent, "model_kind": "baseline"})
            mlflow.log_params({"baseline": UPLIFT_BASELINES[baseline]})
            mlflow.log_metrics({f"holdout_{k}": v for k, v in metrics.items()})
    promoted, decision = promote_if_better(
        registered_name,
        version,
        "holdout_qini",
        result.metrics["qini"],
        baselines={name: m["qini"] for name, m in result.baselines.items()},
        # Targeting by an uplift no better than random mails the wrong people.
        first_must_beat_baselines=True,
    )
    mlflow.set_tags({"champion_decision": decision, "promoted": str(promoted)})
    client = MlflowClient()
    client.update_registered_model(
        registered_name,
        description=(
            "Uplift: how much an email raises a person's chance of ordering within"
            f" {uplift.HORIZON_DAYS} days (uplift_7d), from past campaigns' randomized"
            " holdouts; a two-model learner, gradient boosting per arm, on point-in-time"
            f" features. The '{CHAMPION}' alias marks the version that scores; a new version"
            " takes it only by beating the champion and every baseline on the held-out Qini"
            " coefficient, the first version too."
        ),
    )
    metrics = result.metrics
    client.update_model_version(
        registered_name,
        version,
        description=(
            f"As of {tags.get('as_of')}: {result.params['campaigns']} campaigns,"
            f" {metrics['rows']:,} assignments, each judged by a model that never saw its person"
            f" ({result.params['evaluation']}: Qini {metrics['qini']:.3f}, uplift in the top"
            f" 10% {metrics['uplift_top_10pct']:.3f}, top 30% {metrics['uplift_top_30pct']:.3f}),"
            f" refit on {result.params['train_rows']:,} to score. Champion decision:"
            f" {decision}."
        ),
    )
    return {"version": version, "promoted": promoted, "decision": decision}


UPLIFT_BASELINES = {
    "propensity": "a classifier of the same conversion that ignores who was mailed",
    "random": "random targeting",
}


def load_champion_with_version(registered_name: str):
    """The champion model and its registry version; (None, None) when there is none yet."""
    try:
        version = MlflowClient().get_model_version_by_alias(registered_name, CHAMPION)
    except mlflow.exceptions.MlflowException:
        return None, None
    return load_champion(registered_name), str(version.version)
