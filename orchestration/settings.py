"""Every path and setting of the pipeline, read from the environment at call time.

This is the one module that knows where things live. Each value has a working default
relative to the repository, and each environment variable is listed in `.env.example`.
Functions rather than constants, so that a test that changes the environment sees it.
"""

from __future__ import annotations

import os
import shutil
import sys
from datetime import UTC, datetime
from pathlib import Path

PROJECT_ROOT = Path(__file__).resolve().parents[1]

TELEMETRY_OFF = {
    "DO_NOT_TRACK": "true",
    "DBT_SEND_ANONYMOUS_USAGE_STATS": "false",
    "MLFLOW_DISABLE_TELEMETRY": "true",
    "GX_ANALYTICS_ENABLED": "false",
    "DAGSTER_DISABLE_TELEMETRY": "true",
}


def disable_telemetry() -> None:
    """Anything that phones home hangs on a closed network; make sure nothing tries."""
    for key, value in TELEMETRY_OFF.items():
        os.environ.setdefault(key, value)


def configure_dbt_selection() -> None:
    """Dagster runs the dbt graph in steps around the ML assets (dim_customers reads the
    scores): a test that spans steps must run in the step where all its parents exist.
    dagster-dbt reads this default from the environment and overrides it when it must."""
    os.environ.setdefault("DBT_INDIRECT_SELECTION", "buildable")


def _path(var: str, default: Path) -> Path:
    value = os.environ.get(var)
    if not value:
        return default
    path = Path(value).expanduser()
    return path if path.is_absolute() else PROJECT_ROOT / path


def data_dir() -> Path:
    return _path("MAILPIPE_DATA_DIR", PROJECT_ROOT / "data")


def landing_dir() -> Path:
    return _path("MAILPIPE_LANDING_DIR", data_dir() / "landing")


def warehouse_path() -> Path:
    return _path("MAILPIPE_WAREHOUSE_PATH", data_dir() / "warehouse.duckdb")


def duckdb_memory_limit() -> str:
    """How much memory DuckDB may hold, in a dbt build and in the pipeline's own connection,
    before it spills to disk (3GB: the identity models at a million records then stay under
    4 GiB and lose a few seconds). The load has its own, `load_memory_limit`."""
    return os.environ.get("MAILPIPE_DUCKDB_MEMORY_LIMIT") or "3GB"


def load_memory_limit() -> str:
    """How much memory DuckDB may hold while it loads landing files (1GB). The load appends
    and looks keys up; a larger cache does not speed it up: a million customers' files
    loaded in 202 s and 2.4 GB at 1GB, in 208 s and 3.6 GB at 3GB."""
    return os.environ.get("MAILPIPE_LOAD_MEMORY_LIMIT") or "1GB"


def mlflow_tracking_uri() -> str:
    return os.environ.get("MLFLOW_TRACKING_URI") or f"sqlite:///{data_dir() / 'mlflow.db'}"


def mlflow_artifacts_dir() -> Path:
    return _path("MAILPIPE_MLFLOW_ARTIFACTS_DIR", data_dir() / "mlruns")


def exports_dir() -> Path:
    return _path("MAILPIPE_EXPORTS_DIR", data_dir() / "exports")


def ground_truth_dir() -> Path:
    return _path("MAILPIPE_GROUND_TRUTH_DIR", data_dir() / "ground_truth")


def dbt_project_dir() -> Path:
    return PROJECT_ROOT / "dbt_project"


def gx_context_dir() -> Path:
    return _path("MAILPIPE_GX_CONTEXT_DIR", PROJECT_ROOT / "great_expectations")


def campaigns_dir() -> Path:
    return _path("MAILPIPE_CAMPAIGNS_DIR", PROJECT_ROOT / "email_render" / "campaigns")


AS_OF_LATEST = "latest"


def as_of_override() -> datetime | None:
    """The as-of date pinned by MAILPIPE_AS_OF (ISO date or timestamp, UTC), if any.

    `latest` pins nothing: the as-of is the newest event in the data, as without the
    setting, but freshness is then judged against it rather than the clock (see
    `freshness_mode`)."""
    value = os.environ.get("MAILPIPE_AS_OF")
    if not value or value.strip().lower() == AS_OF_LATEST:
        return None
    parsed = datetime.fromisoformat(value)
    if parsed.tzinfo is not None:
        parsed = parsed.astimezone(UTC).replace(tzinfo=None)
    return parsed


def postal_address() -> str:
    return os.environ.get(
        "MAILPIPE_POSTAL_ADDRESS", "Mailpipe Demo Shop, Example Street 1, 10115 Berlin, Germany"
    )


def unsubscribe_base_url() -> str:
    return os.environ.get("MAILPIPE_UNSUBSCRIBE_URL", "https://shop.example.com/unsubscribe")


def sender_address() -> str:
    return os.environ.get("MAILPIPE_SENDER", "Demo Shop <news@shop.example.com>")


def dbt_executable() -> str:
    """dbt from this interpreter's environment, so the pipeline works without an activated venv."""
    beside_python = Path(sys.executable).parent / "dbt"
    return str(beside_python) if beside_python.exists() else (shutil.which("dbt") or "dbt")


def segments_dir() -> Path:
    return _path("MAILPIPE_SEGMENTS_DIR", PROJECT_ROOT / "dbt_project" / "segments")


def sender_domain() -> str:
    """The domain of Message-IDs and the unsubscribe mailbox: the sender's."""
    return sender_address().rsplit("@", 1)[-1].rstrip(">").strip() or "localhost"


def erasure_requests_dir() -> Path:
    """Drop a .txt file with one email per line here to have those people erased."""
    return _path("MAILPIPE_ERASURE_REQUESTS_DIR", data_dir() / "privacy" / "erasure_requests")


def retention_days() -> int:
    return int(os.environ.get("MAILPIPE_RETENTION_DAYS", "730"))


def journeys_dir() -> Path:
    return _path("MAILPIPE_JOURNEYS_DIR", PROJECT_ROOT / "email_render" / "journeys")


def privacy_salt() -> str | None:
    """The salt of identifier hashes, if set; otherwise the privacy stage keeps its own."""
    return os.environ.get("MAILPIPE_PRIVACY_SALT") or None


def frequency_caps() -> tuple[int, int]:
    """Marketing emails a person may get per day and per 7 days."""
    return (
        int(os.environ.get("MAILPIPE_CAP_PER_DAY", 1)),
        int(os.environ.get("MAILPIPE_CAP_PER_WEEK", 3)),
    )


def render_workers() -> int:
    """Processes that render and write export batches: one per core unless set."""
    return int(os.environ.get("MAILPIPE_RENDER_WORKERS") or os.cpu_count() or 1)


def smtp() -> dict | None:
    """SMTP delivery settings, only when MAILPIPE_SMTP_HOST is set."""
    host = os.environ.get("MAILPIPE_SMTP_HOST")
    if not host:
        return None
    return {
        "host": host,
        "port": int(os.environ.get("MAILPIPE_SMTP_PORT", 587)),
        "username": os.environ.get("MAILPIPE_SMTP_USERNAME") or None,
        "password": os.environ.get("MAILPIPE_SMTP_PASSWORD") or None,
        "starttls": os.environ.get("MAILPIPE_SMTP_STARTTLS", "true").lower()
        in ("1", "true", "yes"),
    }


def dbt_vars() -> dict[str, str]:
    """What a dbt build of this run needs to know: its warehouse, segment library and as-of."""
    as_of = as_of_override()
    return {
        "warehouse_path": str(warehouse_path()),
        "duckdb_memory_limit": duckdb_memory_limit(),
        "segments_dir": str(segments_dir()),
        "as_of": as_of.isoformat(sep=" ") if as_of else "",
        "identity_match_threshold": str(identity_match_threshold()),
    }


def identity_match_threshold() -> float:
    """The match probability at which two CRM records no identifier links become one person
    (0.95: on the FEBRL benchmarks, precision 1.000 with recall 0.95)."""
    value = float(os.environ.get("MAILPIPE_IDENTITY_MATCH_THRESHOLD", "0.95"))
    if not 0 < value < 1:
        raise ValueError(f"MAILPIPE_IDENTITY_MATCH_THRESHOLD must be between 0 and 1, not {value}")
    return value


def clv_discount_rate() -> float:
    """The annual rate CLV discounts future purchases at (0.10: a purchase a year out is
    worth 91% of one today)."""
    return float(os.environ.get("MAILPIPE_CLV_DISCOUNT_RATE", "0.10"))


def clv_spend_model() -> str:
    """Which transactions Gamma-Gamma learns spend from: `repeat` (as published) or `all`."""
    return os.environ.get("MAILPIPE_CLV_SPEND_MODEL", "repeat")


def freshness_mode() -> str:
    """What a source's lateness is measured against: `clock` (now; a scheduled run),
    `as_of` (a pinned MAILPIPE_AS_OF: a rerun of history) or `latest` (MAILPIPE_AS_OF=latest:
    the newest event in the data, as the demo and the benchmarks run)."""
    value = (os.environ.get("MAILPIPE_AS_OF") or "").strip().lower()
    if not value:
        return "clock"
    return "latest" if value == AS_OF_LATEST else "as_of"


FRESHNESS_DEFAULT_HOURS = {"crm": 48.0, "web": 2.0, "shop": 24.0, "esp": 24.0}


def freshness_limits() -> dict[str, float]:
    """Hours each landing source may be late before the sends that need it stop:
    MAILPIPE_FRESHNESS_<SOURCE>_HOURS (CRM 48, web 2, shop 24, email service 24)."""
    limits = {}
    for source, default in FRESHNESS_DEFAULT_HOURS.items():
        value = float(os.environ.get(f"MAILPIPE_FRESHNESS_{source.upper()}_HOURS", default))
        if value <= 0:
            raise ValueError(f"MAILPIPE_FRESHNESS_{source.upper()}_HOURS must be positive")
        limits[source] = value
    return limits
