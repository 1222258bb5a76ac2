"""The champion gate: a new model must beat the current champion and every baseline."""

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
