"""MLflow bookkeeping: the champion gate, and what a logged run tells an ML engineer."""

import json

import mlflow
import pytest

from ml import tracking


@pytest.fixture
def registry(tmp_path, monkeypatch):
    """Versions registered straight in the registry: the gate reads only their runs' metric."""
    monkeypatch.setenv("MLFLOW_DISABLE_TELEMETRY", "true")
    tracking.configure(f"sqlite:///{tmp_path / 'mlflow.db'}", tmp_path / "mlruns", "gate")
    client = mlflow.MlflowClient()
    client.create_registered_model("gate_model")

    def register(roc_auc: float) -> str:
        with mlflow.start_run() as run:
            mlflow.log_metric("holdout_roc_auc", roc_auc)
        version = client.create_model_version(
            "gate_model", f"runs:/{run.info.run_id}/model", run_id=run.info.run_id
        )
        return str(version.version)

    return register


def _champion() -> str:
    return str(mlflow.MlflowClient().get_model_version_by_alias("gate_model", "champion").version)


def test_a_model_that_loses_to_a_baseline_does_not_replace_the_champion(registry):
    first = registry(0.70)
    promoted, why = tracking.promote_if_better("gate_model", first, "holdout_roc_auc", 0.70)
    assert promoted and why.startswith("no champion yet")
    second = registry(0.80)
    promoted, why = tracking.promote_if_better(
        "gate_model", second, "holdout_roc_auc", 0.80, baselines={"logreg": 0.75, "bgnbd": 0.82}
    )
    assert not promoted and "bgnbd (0.8200)" in why and "logreg" not in why
    assert _champion() == first
    third = registry(0.85)
    promoted, why = tracking.promote_if_better(
        "gate_model", third, "holdout_roc_auc", 0.85, baselines={"logreg": 0.75, "bgnbd": 0.82}
    )
    assert promoted and _champion() == third


def test_a_first_model_is_promoted_even_below_a_baseline_and_says_so(registry):
    first = registry(0.60)
    promoted, why = tracking.promote_if_better(
        "gate_model", first, "holdout_roc_auc", 0.60, baselines={"bgnbd": 0.65}
    )
    assert promoted and "does not beat the baseline bgnbd (0.6500)" in why


@pytest.fixture(scope="module")
def logged(tmp_path_factory):
    """A purchase model trained on synthetic orders and logged as the pipeline logs it."""
    from ml import classifiers
    from tests.ml.test_classifiers import _synthetic

    root = tmp_path_factory.mktemp("mlflow")
    features, as_of = _synthetic()
    with pytest.MonkeyPatch.context() as mp:
        # A learning curve from 100 rows: this window is a few hundred people.
        mp.setattr(classifiers, "LEARNING_CURVE_FIRST_ROWS", 100)
        result = classifiers.train(classifiers.PURCHASE, features, as_of)
    experiment_id = tracking.configure(
        f"sqlite:///{root / 'mlflow.db'}", root / "mlruns", "purchase_propensity"
    )
    tags = tracking.run_tags("0123abc", "dagster-run-1", as_of)
    with mlflow.start_run(run_name="purchase") as run:
        decision = tracking.log_classifier_run(result, "purchase_propensity", tags)
    yield {"experiment_id": experiment_id, "run_id": run.info.run_id, "decision": decision}
    mlflow.set_tracking_uri(None)


def test_experiments_open_on_their_runs_not_on_genai_traces(logged):
    experiment = mlflow.get_experiment(logged["experiment_id"])
    assert experiment.tags["mlflow.experimentKind"] == "custom_model_development"


def test_a_run_is_tied_to_its_commit_its_dagster_run_and_its_as_of_date(logged):
    run = mlflow.get_run(logged["run_id"])
    assert run.data.tags[tracking.GIT_COMMIT_TAG] == "0123abc"
    assert run.data.tags["dagster_run_id"] == "dagster-run-1"
    assert run.data.tags["as_of"] == "2026-10-01 00:00"


def test_training_and_holdout_datasets_are_logged_by_name_size_and_cutoff_without_people(logged):
    inputs = {d.dataset.name: d for d in mlflow.get_run(logged["run_id"]).inputs.dataset_inputs}
    assert set(inputs) == {"purchase_propensity_training", "purchase_propensity_holdout"}
    holdout = inputs["purchase_propensity_holdout"]
    tags = {t.key: t.value for t in holdout.tags}
    assert tags["mlflow.data.context"] == "holdout"
    assert tags["cutoff"] == "2026-09-01 00:00" and int(tags["rows"]) > 100
    schema = holdout.dataset.schema
    columns = {c["name"] for c in json.loads(schema)["mlflow_colspec"]}
    assert "person_id" not in columns and {"days_since_last_order", "label"} <= columns


def test_the_run_shows_the_learning_curve_that_chose_its_training_rows(logged):
    client = mlflow.MlflowClient()
    run = client.get_run(logged["run_id"])
    artifacts = {a.path for a in client.list_artifacts(logged["run_id"])}
    assert {"learning_curve.png", "learning_curve.json"} <= artifacts
    curve = mlflow.load_table("learning_curve.json", run_ids=[logged["run_id"]])
    assert curve["rows"].iloc[0] == 100 and curve["rows"].is_monotonic_increasing
    assert int(run.data.params["train_rows"]) in set(curve["rows"])
    assert "rows" in run.data.params["train_rows_reason"]


def test_each_baseline_is_a_child_run_with_the_models_metrics_and_curves(logged):
    client = mlflow.MlflowClient()
    parent = client.get_run(logged["run_id"])
    children = client.search_runs(
        [logged["experiment_id"]], f"tags.mlflow.parentRunId = '{logged['run_id']}'"
    )
    assert {c.info.run_name for c in children} == {"baseline logreg", "baseline bgnbd"}
    model_metrics = {k for k in parent.data.metrics if k.startswith("holdout_")}
    curves = {"roc_curve.png", "precision_recall_curve.png", "calibration.png"}
    for run in [parent, *children]:
        assert {k for k in run.data.metrics if k.startswith("holdout_")} == model_metrics
        assert curves <= {a.path for a in client.list_artifacts(run.info.run_id)}
    assert not any(k.startswith("baseline_") for k in parent.data.metrics)


def test_the_registry_says_what_the_model_predicts_and_why_this_version_is_champion(logged):
    client = mlflow.MlflowClient()
    model = client.get_registered_model("purchase_propensity")
    assert "30 days" in model.description and "champion" in model.description
    version = client.get_model_version("purchase_propensity", logged["decision"]["version"])
    assert "ROC AUC" in version.description
    assert logged["decision"]["decision"] in version.description


def test_a_first_model_that_must_beat_its_baselines_is_not_promoted_below_them(registry):
    first = registry(0.60)
    promoted, why = tracking.promote_if_better(
        "gate_model",
        first,
        "holdout_roc_auc",
        0.60,
        baselines={"random": 0.65},
        first_must_beat_baselines=True,
    )
    assert not promoted and why.startswith("no champion") and "random (0.6500)" in why
    assert tracking.load_champion_with_version("gate_model") == (None, None)
