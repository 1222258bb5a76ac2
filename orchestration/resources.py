"""Resources: the warehouse, dbt, and the MLflow tracking store, configured from settings."""

import functools
import subprocess
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

    def run_tags(self, dagster_run_id: str, as_of) -> dict[str, str]:
        """The git commit, the Dagster run and the as-of date, for every run it logs."""
        return tracking.run_tags(_git_commit(), dagster_run_id, as_of)

    def ui_url(self, experiment_id: str, run_id: str) -> str:
        return f"http://127.0.0.1:5000/#/experiments/{experiment_id}/runs/{run_id}"


@functools.cache
def _git_commit() -> str | None:
    """The checkout's commit, with "-dirty" when it has uncommitted changes; None outside git."""
    try:
        commit = subprocess.run(
            ["git", "rev-parse", "HEAD"],
            cwd=settings.PROJECT_ROOT,
            capture_output=True,
            text=True,
            check=True,
        ).stdout.strip()
        dirty = subprocess.run(
            ["git", "status", "--porcelain", "--untracked-files=no"],
            cwd=settings.PROJECT_ROOT,
            capture_output=True,
            text=True,
            check=True,
        ).stdout.strip()
    except (OSError, subprocess.CalledProcessError):
        return None
    return f"{commit}-dirty" if dirty else commit
