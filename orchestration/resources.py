"""Resources: the warehouse, dbt, and the MLflow tracking store, configured from settings."""

from pathlib import Path

from dagster import ConfigurableResource

from ml import tracking
from orchestration import settings


class MlflowTracking(ConfigurableResource):
    """The project's MLflow tracking store and artifact folder."""

    tracking_uri: str
    artifacts_dir: str

    def start(self, experiment: str) -> str:
        settings.disable_telemetry()
        return tracking.configure(self.tracking_uri, Path(self.artifacts_dir), experiment)

    def ui_url(self, experiment_id: str, run_id: str) -> str:
        return f"http://127.0.0.1:5000/#/experiments/{experiment_id}/runs/{run_id}"
