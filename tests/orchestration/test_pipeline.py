"""End to end: generated landing files through every asset to exported sends."""

import json
from pathlib import Path

import dagster as dg
import duckdb
import mlflow
import pandas as pd
import pytest

from orchestration.lib import settings
from orchestration.lib.demo_data import DemoParams, generate
from tests.conftest import isolate

STAGES = {"raw", "staging", "marts", "ml", "email"}


def _definitions():
    from orchestration.definitions import build_definitions

    return build_definitions()


def _run(defs, selection=None) -> dg.ExecuteInProcessResult:
    job = defs.resolve_implicit_global_asset_job_def()
    return job.execute_in_process(
        instance=dg.DagsterInstance.ephemeral(), asset_selection=selection, raise_on_error=False
    )


@pytest.fixture(scope="module")
def pipeline(tmp_path_factory):
    root = tmp_path_factory.mktemp("pipeline")
    with pytest.MonkeyPatch.context() as mp:
        isolate(mp, root)
        generate(
            settings.landing_dir(), settings.ground_truth_dir(), DemoParams(customers=600, seed=11)
        )
        defs = _definitions()
        result = _run(defs)
        yield {"root": root, "defs": defs, "result": result, "mp": mp}


@pytest.fixture
def warehouse(pipeline):
    with duckdb.connect(str(pipeline["root"] / "warehouse.duckdb"), read_only=True) as conn:
        yield conn


def _sends(root: Path) -> pd.DataFrame:
    uploads = list((root / "exports").glob("*/*/sends.jsonl"))
    assert uploads, "no ESP upload file exported"
    return pd.concat(pd.read_json(u, lines=True) for u in uploads)


def test_definitions_load_with_described_assets_in_stage_groups():
    defs = _definitions()
    graph = defs.resolve_asset_graph()
    keys = {k.to_user_string() for k in graph.get_all_asset_keys()}
    for expected in (
        "raw/crm_customers",
        "dim_customers",
        "fct_orders",
        "purchase_propensity_model",
        "customer_scores",
        "send_audience",
        "campaign_sends",
    ):
        assert expected in keys
    for key in graph.get_all_asset_keys():
        node = graph.get(key)
        assert node.group_name in STAGES, key
        assert node.description, f"{key.to_user_string()} has no description"
    checks = {k.name for k in graph.asset_check_keys}
    assert {"dim_customers_meets_expectations", "send_audience_is_consented_and_valid"} <= checks


def test_every_asset_materializes(pipeline):
    result = pipeline["result"]
    assert result.success, [e.message for e in result.all_events if e.is_failure]
    evaluations = result.get_asset_check_evaluations()
    checks = {e.check_name: e.passed for e in evaluations}
    assert checks["dim_customers_meets_expectations"]
    assert checks["send_audience_is_consented_and_valid"]
    assert checks["customer_scores_are_probabilities"]
    contracts = [e for e in evaluations if e.check_name == "newest_load_meets_contract"]
    assert len(contracts) == 6 and all(e.passed for e in contracts)
    assert sum(e.check_name == "has_no_load_anomalies" for e in evaluations) == 6
    gx = next(e for e in evaluations if e.check_name == "dim_customers_meets_expectations")
    docs = gx.metadata["data_docs"].value
    assert docs.startswith("file://") and Path(docs.removeprefix("file://")).is_file()


def _landed_rows(path: Path) -> int:
    lines = [line for line in path.read_text(encoding="utf-8").splitlines() if line.strip()]
    return len(lines) - (1 if path.suffix == ".csv" else 0)


def test_row_counts_reconcile_with_the_landed_files(pipeline, warehouse):
    landing = pipeline["root"] / "landing"
    audit = warehouse.execute(
        "select source_table, file_name, rows_received, rows_loaded, rows_quarantined from raw.load_audit"
    ).df()
    assert len(audit) == len(list(landing.rglob("*.*")))
    for row in audit.itertuples():
        assert row.rows_received == _landed_rows(landing / row.file_name), row.file_name
        assert row.rows_received == row.rows_loaded + row.rows_quarantined, row.file_name
    dirty = pd.read_csv(pipeline["root"] / "ground_truth" / "dirty_rows.csv")
    for table, expected in dirty.groupby("table").size().items():
        loaded = warehouse.execute(f"select count(*) from raw.{table}").fetchone()[0]
        quarantined = warehouse.execute(
            "select count(*) from raw.quarantine where source_table = ?", [table]
        ).fetchone()[0]
        assert quarantined == expected, table
        assert loaded == audit.loc[audit.source_table == table, "rows_loaded"].sum() > 0, table
    orders = warehouse.execute(
        "select (select count(*) from raw.shop_orders), (select count(*) from marts.fct_orders)"
    ).fetchone()
    assert orders[0] == orders[1] > 0


def test_identity_resolution_is_precise_and_complete_against_ground_truth(pipeline, warehouse):
    from orchestration.lib.evaluation import identity_scores

    scores = identity_scores(warehouse, pipeline["root"] / "ground_truth")
    print(f"identity resolution: precision {scores.precision:.4f}, recall {scores.recall:.4f}")
    assert (
        scores.records
        == warehouse.execute("select count(*) from marts.identity_links").fetchone()[0]
    )
    assert scores.precision >= 0.99
    assert scores.recall >= 0.97


def test_dim_customers_has_one_row_per_person(warehouse):
    rows, people = warehouse.execute(
        "select count(*), count(distinct person_id) from marts.dim_customers"
    ).fetchone()
    linked = warehouse.execute(
        "select count(distinct person_id) from marts.identity_links"
    ).fetchone()[0]
    assert rows == people == linked > 0
    scored, with_score = warehouse.execute(
        "select (select count(*) from ml.customer_scores),"
        " (select count(*) from marts.dim_customers where purchase_propensity is not null)"
    ).fetchone()
    assert scored == with_score > 0, "the first run's scores flow into dim_customers"


def test_every_exported_send_goes_to_a_consenting_customer(pipeline, warehouse):
    sends = _sends(pipeline["root"])
    profiles = warehouse.execute(
        "select person_id, email, has_marketing_consent, is_unsubscribed, has_hard_bounced, has_complained from marts.dim_customers"
    ).df()
    merged = sends.merge(profiles, on="person_id", how="left", validate="one_to_one")
    assert merged["has_marketing_consent"].all()
    assert not (
        merged["is_unsubscribed"] | merged["has_hard_bounced"] | merged["has_complained"]
    ).any()
    assert (merged["recipient"] == merged["email"]).all()
    # Checked against the generator's truth, which the pipeline never read.
    truth = pd.read_csv(pipeline["root"] / "ground_truth" / "persons.csv")
    consent_by_email = dict(zip(truth["email"], truth["has_consent"], strict=True))
    assert all(consent_by_email.get(r) for r in sends["recipient"])
    unsubscribed = (
        warehouse.execute(
            "select distinct lower(trim(email)) from raw.esp_email_events where event_type in ('unsubscribe', 'complaint')"
        )
        .df()
        .iloc[:, 0]
    )
    assert not set(sends["recipient"]) & set(unsubscribed)


def test_each_email_carries_the_customers_own_name_and_products(pipeline, warehouse):
    sends = _sends(pipeline["root"])
    names = dict(
        warehouse.execute("select person_id, first_name from marts.dim_customers").fetchall()
    )
    recs = (
        warehouse.execute(
            "select r.person_id, p.product_name from ml.customer_recommendations r join marts.dim_products p using (product_id)"
        )
        .df()
        .groupby("person_id")["product_name"]
        .apply(list)
        .to_dict()
    )
    assert len(sends) > 20
    for send in sends.itertuples():
        greeting = f"Hi {names[send.person_id] or 'there'},"
        assert greeting in send.text and greeting in send.html
        assert recs[send.person_id], send.person_id
        for product in recs[send.person_id]:
            assert product in send.html and product in send.text
    assert (pipeline["root"] / "exports" / "weekly-picks").glob("*/previews/index.html")


def test_the_propensity_model_is_tracked_and_registered_in_mlflow(pipeline):
    mlflow.set_tracking_uri(f"sqlite:///{pipeline['root'] / 'mlflow.db'}")
    runs = mlflow.search_runs(experiment_names=["purchase_propensity"])
    assert len(runs) == 1
    run = runs.iloc[0]
    assert 0.5 < run["metrics.holdout_roc_auc"] <= 1.0
    assert run["params.horizon_days"] == "30"
    champion = mlflow.MlflowClient().get_model_version_by_alias("purchase_propensity", "champion")
    model_info = mlflow.models.get_model_info(f"models:/purchase_propensity/{champion.version}")
    assert model_info.signature is not None
    example = json.loads(
        Path(
            mlflow.artifacts.download_artifacts(f"runs:/{run.run_id}/model/input_example.json")
        ).read_text()
    )
    assert "person_id" not in json.dumps(example)


def test_a_corrupted_mart_blocks_the_sends(pipeline):
    root = pipeline["root"]
    with duckdb.connect(str(root / "warehouse.duckdb")) as conn:
        conn.execute("insert into marts.dim_customers select * from marts.dim_customers limit 5")
    for upload in (root / "exports").glob("*/*/sends.jsonl"):
        upload.unlink()
    # Re-run the gate and everything behind it, as the daily job would after a bad build.
    job = (
        pipeline["defs"]
        .resolve_implicit_global_asset_job_def()
        .get_subset(
            asset_selection={dg.AssetKey("send_audience"), dg.AssetKey("campaign_sends")},
            asset_check_selection={
                dg.AssetCheckKey(dg.AssetKey("dim_customers"), "dim_customers_meets_expectations")
            },
        )
    )
    result = job.execute_in_process(instance=dg.DagsterInstance.ephemeral(), raise_on_error=False)
    evaluations = {e.check_name: e for e in result.get_asset_check_evaluations()}
    assert not evaluations["dim_customers_meets_expectations"].passed
    materialized = {e.asset_key.to_user_string() for e in result.get_asset_materialization_events()}
    assert "campaign_sends" not in materialized
    assert not list((root / "exports").glob("*/*/sends.jsonl"))


def test_a_pinned_as_of_date_moves_every_window(pipeline):
    """MAILPIPE_AS_OF pins the date the models, scores and sends are relative to."""
    import subprocess
    import sys

    env = {**__import__("os").environ, "MAILPIPE_AS_OF": "2026-06-30T00:00:00"}
    dbt = Path(sys.executable).parent / "dbt"
    subprocess.run(
        [str(dbt), "run", "--profiles-dir", ".", "--quiet", "--select", "pipeline_as_of"],
        cwd=settings.dbt_project_dir(),
        env=env,
        check=True,
    )
    with duckdb.connect(str(pipeline["root"] / "warehouse.duckdb"), read_only=True) as conn:
        as_of, latest, pinned = conn.execute("select * from marts.pipeline_as_of").fetchone()
    assert str(as_of) == "2026-06-30 00:00:00" and pinned
    assert latest > as_of
