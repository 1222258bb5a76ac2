"""Every test gets its own data folder, warehouse, MLflow store and GX context."""

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from orchestration import settings


@pytest.fixture(scope="session", autouse=True)
def dbt_manifest() -> Path:
    """dagster-dbt reads target/manifest.json when the definitions are imported."""
    manifest = settings.dbt_project_dir() / "target" / "manifest.json"
    if not manifest.exists():
        dbt = Path(sys.executable).parent / "dbt"
        subprocess.run(
            [str(dbt), "parse", "--profiles-dir", ".", "--quiet"],
            cwd=settings.dbt_project_dir(),
            check=True,
        )
    return manifest


def isolate(monkeypatch: pytest.MonkeyPatch, root: Path) -> Path:
    monkeypatch.setenv("MAILPIPE_DATA_DIR", str(root))
    monkeypatch.setenv("MAILPIPE_WAREHOUSE_PATH", str(root / "warehouse.duckdb"))
    monkeypatch.setenv("MLFLOW_TRACKING_URI", f"sqlite:///{root / 'mlflow.db'}")
    monkeypatch.setenv("MAILPIPE_MLFLOW_ARTIFACTS_DIR", str(root / "mlruns"))
    monkeypatch.setenv("MAILPIPE_GX_CONTEXT_DIR", str(root / "great_expectations"))
    # Test data is history: judged as of its newest event, as the demo is. Tests of the
    # clock unset it.
    monkeypatch.setenv("MAILPIPE_AS_OF", "latest")
    for key, value in settings.TELEMETRY_OFF.items():
        monkeypatch.setenv(key, value)
    return root


@pytest.fixture
def data_dir(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    return isolate(monkeypatch, tmp_path)


def run_dbt(
    *args: str, dbt_vars: dict | None = None, target: Path | None = None
) -> subprocess.CompletedProcess:
    """dbt from this environment in the project folder, as an analytics engineer runs it.
    A target path of its own keeps the project's manifest (which Dagster reads) untouched."""
    dbt = Path(sys.executable).parent / "dbt"
    command = [str(dbt), *args, "--profiles-dir", "."]
    if dbt_vars:
        command += ["--vars", json.dumps(dbt_vars)]
    if target:
        command += ["--target-path", str(target)]
    return subprocess.run(
        command,
        cwd=settings.dbt_project_dir(),
        env=os.environ,
        capture_output=True,
        text=True,
    )
