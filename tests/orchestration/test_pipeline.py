"""End to end: generated landing files through every asset to exported sends."""

import json
import re
from pathlib import Path

import dagster as dg
import duckdb
import mlflow
import pandas as pd
import pytest

from orchestration import settings
from orchestration.demo.generator import DemoParams, generate
from tests.conftest import isolate


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


def test_every_asset_materializes(pipeline):
    result = pipeline["result"]
    assert result.success, [e.message for e in result.all_events if e.is_failure]
    evaluations = result.get_asset_check_evaluations()
    checks = {e.check_name: e.passed for e in evaluations}
    # 600 customers are too few for the segments' minimum sizes and for an uplift model
    # (a few dozen held-out people per campaign): that, and only that, warns, and the
    # checks name the segments and say why the model was not trained.
    failing = {e.check_name: e for e in evaluations if not e.passed}
    assert set(failing) <= {
        "segment_sizes_are_within_bounds",
        "assert_segments_reach_their_min_size",
        "model_trained_on_this_data",
    }
    untrained = [
        e for e in evaluations if e.check_name == "model_trained_on_this_data" and not e.passed
    ]
    assert [e.asset_key.path[-1] for e in untrained] == ["customer_uplift"]
    assert "cannot train the uplift model" in untrained[0].metadata["skipped_because"].value
    assert all(e.severity == dg.AssetCheckSeverity.WARN for e in failing.values())
    sizes = failing.get("segment_sizes_are_within_bounds")
    if sizes is not None:
        named = {f["column"] for f in sizes.metadata["failures"].value}
        assert named == set(sizes.metadata["segments_below_minimum_size"].value)
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


def test_the_runs_later_dbt_steps_start_from_the_first_ones_parse(pipeline):
    target = settings.dbt_project_dir() / "target"
    run = pipeline["result"].run_id[:7]
    logs = sorted(target.glob(f"*-{run}-*/dbt.log"), key=lambda log: log.stat().st_mtime)
    assert len(logs) >= 3  # staging and core, the customer view, the reports
    assert not [log for log in logs[1:] if "Unable to do partial parsing" in log.read_text()]


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
    from orchestration.identity.evaluation import identity_scores

    scores = identity_scores(warehouse, pipeline["root"] / "ground_truth")
    print(f"identity resolution: precision {scores.precision:.4f}, recall {scores.recall:.4f}")
    assert scores.records_missing == 0
    assert (
        scores.records
        == warehouse.execute("select count(*) from marts.identity_links").fetchone()[0]
    )
    assert scores.precision >= 0.999
    assert scores.recall >= 0.97


def test_identity_links_explains_its_strongest_and_weakest_probabilistic_links(pipeline):
    [event] = [
        e
        for e in pipeline["result"].get_asset_materialization_events()
        if e.asset_key == dg.AssetKey("identity_links")
    ]
    metadata = event.materialization.metadata
    assert metadata["probabilistic_pairs_accepted"].value > 0
    assert metadata["probabilistic_matching"].value.startswith("trained on")
    weakest = metadata["weakest_accepted_links"].value
    assert "| prior " in weakest and "| total " in weakest and "first_name" in weakest
    assert "probabilistic" in metadata["records_by_rule"].value


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


@pytest.mark.parametrize("model", ["purchase_propensity", "churn_risk"])
def test_each_classifier_is_tracked_and_registered_in_mlflow(pipeline, model):
    mlflow.set_tracking_uri(f"sqlite:///{pipeline['root'] / 'mlflow.db'}")
    runs = mlflow.search_runs(experiment_names=[model])
    parents = runs[runs["tags.mlflow.parentRunId"].isna()]
    assert len(parents) == 1
    run = parents.iloc[0]
    baselines = runs[runs["tags.mlflow.parentRunId"] == run.run_id]
    assert set(baselines["tags.mlflow.runName"]) == {"baseline logreg", "baseline bgnbd"}
    for metric in ("roc_auc", "pr_auc", "brier", "top_decile_lift"):
        assert run[f"metrics.holdout_{metric}"] >= 0, metric
        assert (baselines[f"metrics.holdout_{metric}"] >= 0).all(), metric
    assert len(run["tags.dagster_run_id"]) == 36  # Dagster's run id, a UUID
    assert run["params.calibration"].startswith("sigmoid")
    assert run["tags.champion_decision"].startswith("no champion yet")
    artifacts = {a.path for a in mlflow.MlflowClient().list_artifacts(run.run_id)}
    assert {
        "calibration.png",
        "feature_importance.png",
        "roc_curve.png",
        "precision_recall_curve.png",
    } <= artifacts
    champion = mlflow.MlflowClient().get_model_version_by_alias(model, "champion")
    model_info = mlflow.models.get_model_info(f"models:/{model}/{champion.version}")
    assert model_info.signature is not None
    example = json.loads(
        Path(
            mlflow.artifacts.download_artifacts(f"runs:/{run.run_id}/model/input_example.json")
        ).read_text()
    )
    assert "person_id" not in json.dumps(example)


def test_lifetime_value_recommendations_and_personas_are_logged(pipeline, warehouse):
    mlflow.set_tracking_uri(f"sqlite:///{pipeline['root'] / 'mlflow.db'}")
    clv_run = mlflow.search_runs(experiment_names=["customer_lifetime_value"]).iloc[0]
    params = warehouse.execute("select * from ml.clv_model_params").df()
    assert len(params) == 1 and params["mlflow_run_id"][0] == clv_run["run_id"]
    assert params["bgnbd_r"][0] == pytest.approx(clv_run["metrics.param_bgnbd_r"])
    recs = mlflow.search_runs(experiment_names=["recommendations"]).iloc[0]
    for strategy in ("item_item", "popularity"):
        for metric in ("precision_at_3", "recall_at_3", "catalogue_coverage"):
            assert 0 <= recs[f"metrics.{strategy}_{metric}"] <= 1
    personas = mlflow.search_runs(experiment_names=["personas"]).iloc[0]
    assert -1 <= personas["metrics.silhouette"] <= 1
    client = mlflow.MlflowClient()
    plotted = {
        clv_run["run_id"]: "holdout_transactions_by_frequency.png",
        recs["run_id"]: "holdout_by_strategy.png",
    }
    for run_id, plot in plotted.items():
        assert plot in {a.path for a in client.list_artifacts(run_id)}
    clv_inputs = client.get_run(clv_run["run_id"]).inputs.dataset_inputs
    assert {d.dataset.name for d in clv_inputs} == {"clv_training_buyers", "clv_holdout_buyers"}
    for run in (clv_run, recs, personas):
        assert run["tags.as_of"] and run["tags.dagster_run_id"]


def test_scores_describe_every_person_and_flow_into_segments(warehouse):
    people = warehouse.execute(
        """
        select order_count > 0 as has_ordered, count(*) as people,
            count(churn_probability) as churn, count(clv_365d_eur) as clv,
            count(probability_alive) as alive, count(persona) as persona,
            count(purchase_propensity) as propensity
        from marts.dim_customers group by all order by has_ordered
        """
    ).df()
    never, buyers = people.iloc[0], people.iloc[1]
    assert buyers["churn"] == buyers["clv"] == buyers["alive"] == buyers["people"]
    assert never["churn"] == never["clv"] == 0  # both models describe buyers
    assert (people["persona"] == people["people"]).all()
    assert (people["propensity"] == people["people"]).all()
    churners, in_segment, sized = warehouse.execute(
        """
        select
            (select count(*) from marts.dim_customers where churn_probability > 0.8),
            (select count(*) from marts.customer_segments where segment_name = 'high_churn_risk'),
            (select count(*) from marts.segment_size_history where segment_name = 'high_churn_risk')
        """
    ).fetchone()
    assert churners == in_segment and sized == 1


def test_an_uplift_champion_scores_everyone_fills_persuadables_and_a_campaign_targets_them(
    pipeline, tmp_path
):
    """At 600 customers no uplift model can train, so the path from a champion to a campaign
    is shown with one trained here on planted outcomes, in a copy of the pipeline."""
    import shutil

    import numpy as np

    from ml import tracking, uplift
    from orchestration import ml_io, warehouse

    root = tmp_path / "pipeline"
    shutil.copytree(pipeline["root"], root)
    campaigns = tmp_path / "campaigns"
    shutil.copytree(settings.campaigns_dir(), campaigns)
    picks = (campaigns / "weekly_picks.yaml").read_text()
    (campaigns / "persuade.yaml").write_text(
        picks.replace("campaign_id: weekly-picks", "campaign_id: persuade").replace(
            "schedule: {every: day}", "schedule: {every: day}\naudience: {segment: persuadables}"
        )
    )
    with pytest.MonkeyPatch.context() as mp:
        isolate(mp, root)
        mp.setenv("MAILPIPE_CAMPAIGNS_DIR", str(campaigns))
        with duckdb.connect(str(root / "warehouse.duckdb")) as conn:
            as_of = warehouse.as_of(conn)
            dataset = uplift.assignments(conn, ml_io.UPLIFT_RELATIONS, as_of)
        x = dataset[uplift.FEATURE_COLUMNS]
        is_mailed = dataset["is_mailed"].to_numpy(dtype=bool)
        # Planted: mailing helps the more engaged half and no one else.
        engaged = (x["emails_opened_90d"].rank(pct=True) > 0.5).to_numpy()
        rng = np.random.default_rng(0)
        y = rng.random(len(x)) < np.where(is_mailed & engaged, 0.5, 0.1)
        model = uplift.TwoModelUplift().fit(x, is_mailed, y)
        tracking.configure(f"sqlite:///{root / 'mlflow.db'}", root / "mlruns_uplift", uplift.NAME)
        with mlflow.start_run():
            example = x.head(5)
            logged = tracking.log_sklearn_model(
                model, "model", example, uplift.NAME, output=model.predict(example)
            )
        version = str(logged.registered_model_version)
        mlflow.MlflowClient().set_registered_model_alias(uplift.NAME, tracking.CHAMPION, version)

        downstream = dg.AssetSelection.assets("customer_scores").downstream()
        defs = _definitions()
        result = _run(defs, list(downstream.resolve(defs.resolve_asset_graph())))
        assert result.success, [e.message for e in result.all_events if e.is_failure]

    with duckdb.connect(str(root / "warehouse.duckdb"), read_only=True) as conn:
        scored, people, versions, null_reasons = conn.execute(
            """
            select count(uplift_7d), count(*), list(distinct uplift_model_version),
                (select count(uplift_7d_missing_reason) from ml.customer_scores)
            from marts.dim_customers
            """
        ).fetchone()
        expected = set(
            conn.execute(
                """
                select person_id from marts.dim_customers
                where uplift_rank_pct > 0.7 and uplift_7d > 0 and is_marketable
                """
            ).fetchall()
        )
        members = set(
            conn.execute(
                "select person_id from marts.customer_segments where segment_name = 'persuadables'"
            ).fetchall()
        )
        targeted = set(
            conn.execute(
                """
                select person_id from email.send_plan where campaign_id = 'persuade'
                union all
                select person_id from email.send_exclusions where campaign_id = 'persuade'
                """
            ).fetchall()
        )
    assert scored == people > 0 and versions == [version] and null_reasons == 0
    assert members == expected and len(members) > 0
    assert targeted == members, "the campaign plans for every persuadable and nobody else"


def test_excluded_recipients_are_recorded_with_their_reason(pipeline, warehouse):
    rows = warehouse.execute(
        """
        select c.person_id, c.has_marketing_consent, c.is_unsubscribed, c.is_email_valid,
            p.variant, e.reason, l.person_id is not null as was_sent
        from marts.dim_customers as c
        left join email.send_plan as p on p.person_id = c.person_id and p.campaign_id = 'weekly-picks'
        left join email.send_exclusions as e on e.person_id = c.person_id and e.campaign_id = 'weekly-picks'
        left join email.send_ledger as l on l.person_id = c.person_id and l.campaign_id = 'weekly-picks'
        """
    ).df()
    # The weekly picks go to everyone who may be mailed: each person is planned or excluded, never both.
    assert (rows["variant"].isna() != rows["reason"].isna()).all()
    assert (rows.loc[~rows["has_marketing_consent"], "reason"] == "no_marketing_consent").all()
    consented = rows["has_marketing_consent"]
    assert (rows.loc[consented & rows["is_unsubscribed"], "reason"] == "unsubscribed").all()
    assert not rows.loc[rows["variant"] == "holdout", "was_sent"].any()
    assert rows.loc[rows["variant"].isin(["a", "b"]), "was_sent"].all()
    assert set(rows["variant"].dropna()) == {"a", "b", "holdout"}


def test_rerunning_the_sends_exports_nothing_twice(pipeline):
    defs, root = pipeline["defs"], pipeline["root"]
    before = _sends(root)
    job = defs.resolve_implicit_global_asset_job_def().get_subset(
        asset_selection={dg.AssetKey("campaign_sends")}
    )
    result = job.execute_in_process(instance=dg.DagsterInstance.ephemeral(), raise_on_error=False)
    assert result.success
    after = _sends(root)
    assert len(after) == len(before) and after["message_id"].is_unique
    with duckdb.connect(str(root / "warehouse.duckdb"), read_only=True) as conn:
        assert conn.execute("select count(*) from email.send_ledger").fetchone()[0] == len(after)


CRASHING_EXPORT = """
import os, sys
from datetime import date
import duckdb
from email_render.batch import RecipientExtras
from email_render.campaign import load_campaigns
from email_render.render import TEMPLATES_DIR, Renderer
from orchestration import settings
from orchestration.segments.rules import load_segments
from orchestration.sends import exporting, planning

crash_at = int(sys.argv[1])
day = date.fromisoformat(sys.argv[2])
campaign = next(c for c in load_campaigns(settings.campaigns_dir(), TEMPLATES_DIR) if c.campaign_id == "weekly-picks")
renderer = Renderer(campaign)
def die(batch_no):
    if batch_no == crash_at:
        os._exit(137)  # killed: files of this batch written, its ledger rows not committed
with duckdb.connect(str(settings.warehouse_path())) as conn:
    planning.plan(conn, campaign, day, planning.FrequencyCaps(per_day=5, per_week=50), load_segments(settings.segments_dir()), batch_size=40)
    out = settings.exports_dir() / "crash-test" / day.isoformat()
    extra = RecipientExtras("crash-test", "x", "https://u.example.com/")
    run = exporting.CampaignRun(campaign, renderer, day, out, extra, "s@example.com", "example.com")
    exporting.export(run, conn, after_batch_written=die)
"""


def test_killing_the_export_halfway_and_rerunning_neither_duplicates_nor_loses_a_send(pipeline):
    import os
    import subprocess
    import sys

    from email_render.export import read_messages

    day = "2026-11-01"
    run = [sys.executable, "-c", CRASHING_EXPORT]
    killed = subprocess.run([*run, "2", day], env=os.environ, capture_output=True, text=True)
    assert killed.returncode == 137, killed.stderr[-2000:]
    out = settings.exports_dir() / "crash-test" / day
    # Batch 2's messages and upload lines were written; its ledger rows were not.
    assert (out / "eml" / "batch-000002.zip").exists()
    assert len(pd.read_json(out / "sends.jsonl", lines=True)) == 120
    with duckdb.connect(str(settings.warehouse_path()), read_only=True) as conn:
        assert (
            conn.execute(
                "select count(*) from email.send_ledger where send_date = ?", [day]
            ).fetchone()[0]
            == 80
        )  # batches 0 and 1 only

    resumed = subprocess.run([*run, "-1", day], env=os.environ, capture_output=True, text=True)
    assert resumed.returncode == 0, resumed.stderr[-2000:]
    upload = pd.read_json(out / "sends.jsonl", lines=True)
    with duckdb.connect(str(settings.warehouse_path()), read_only=True) as conn:
        planned = {
            r[0]
            for r in conn.execute(
                "select person_id from email.send_plan where send_date = ? and variant <> 'holdout'",
                [day],
            ).fetchall()
        }
        ledger = conn.execute(
            "select count(*) from email.send_ledger where send_date = ?", [day]
        ).fetchone()[0]
    assert len(planned) > 120
    assert upload["person_id"].is_unique and set(upload["person_id"]) == planned
    messages = [person for person, _ in read_messages(out)]
    assert ledger == len(planned) == len(messages) == len(set(messages))
    assert oct(os.stat(out / "sends.jsonl").st_mode & 0o777) == "0o600"


def test_export_workers_do_not_import_the_command_that_started_the_export(pipeline, tmp_path):
    """multiprocessing's spawn imports the parent's __main__ into every worker: for
    `dagster asset materialize` that is Dagster's whole command line, per worker."""
    import os
    import subprocess
    import sys

    marker = tmp_path / "main-imported-by-a-worker"
    script = tmp_path / "export_command"  # a file, like the dagster console script
    script.write_text(
        "import pathlib, sys\n"
        f"if __name__ == '__mp_main__':\n    pathlib.Path({str(marker)!r}).touch()\n"
        "if __name__ == '__main__':\n"
        "    exec(sys.argv.pop(1))\n"
    )
    day = "2026-11-02"
    env = {**os.environ, "MAILPIPE_RENDER_WORKERS": "2"}
    done = subprocess.run(
        [sys.executable, str(script), CRASHING_EXPORT, "-1", day],
        env=env,
        capture_output=True,
        text=True,
    )
    assert done.returncode == 0, done.stderr[-2000:]
    out = settings.exports_dir() / "crash-test" / day
    assert len(pd.read_json(out / "sends.jsonl", lines=True)) > 80  # several batches, in workers
    assert not marker.exists()


def test_exported_messages_are_delivered_once_over_smtp(pipeline):
    import socket
    from datetime import date
    from email import message_from_bytes, policy

    from aiosmtpd.controller import Controller

    from email_render.delivery import SmtpSettings
    from orchestration.sends import delivering

    class Inbox:
        def __init__(self):
            self.messages = []

        async def handle_DATA(self, server, session, envelope):
            self.messages.append((envelope.rcpt_tos, envelope.content))
            return "250 OK"

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    inbox = Inbox()
    controller = Controller(inbox, hostname="127.0.0.1", port=port)
    controller.start()
    try:
        smtp = SmtpSettings(host="127.0.0.1", port=port, starttls=False)
        day = date(2026, 11, 1)  # the export the crash test completed
        out = settings.exports_dir() / "crash-test" / day.isoformat()
        with duckdb.connect(str(settings.warehouse_path())) as conn:
            first = delivering.deliver_pending(
                conn, "weekly-picks", day, out, smtp, "news@shop.example.com"
            )
            again = delivering.deliver_pending(
                conn, "weekly-picks", day, out, smtp, "news@shop.example.com"
            )
            exported, undelivered = conn.execute(
                "select count(*), count(*) filter (where delivered_at is null) from email.send_ledger"
                " where campaign_id = 'weekly-picks' and send_date = ?",
                [day],
            ).fetchone()
    finally:
        controller.stop()
    assert first == exported == len(inbox.messages) > 100 and again == 0 and undelivered == 0
    for recipients, content in inbox.messages[:20]:
        message = message_from_bytes(content, policy=policy.default)
        assert recipients == [message["To"]]
        assert message["List-Unsubscribe-Post"] == "List-Unsubscribe=One-Click"
    ids = [message_from_bytes(c, policy=policy.default)["Message-ID"] for _, c in inbox.messages]
    assert len(set(ids)) == len(ids)


# These two change the shared warehouse, so they run last.
def test_each_person_gets_the_hour_they_read_email_and_sends_are_scheduled_for_it(
    pipeline, warehouse
):
    hours = warehouse.execute(
        """
        select links.record_id as email, c.preferred_send_hour, c.send_hour_source
        from marts.dim_customers as c
        join marts.identity_links as links
            on links.person_id = c.person_id and links.source_table = 'esp_email_events'
        """
    ).df()
    truth = pd.read_csv(pipeline["root"] / "ground_truth" / "persons.csv")
    truth["email"] = truth["email"].str.strip().str.lower()
    merged = hours.merge(truth[["email", "preferred_hour"]], on="email")
    personal = merged[merged["send_hour_source"] == "personal"]
    assert len(personal) > 30
    # Opens scatter around the true hour: most land on it.
    assert (personal["preferred_send_hour"] == personal["preferred_hour"]).mean() > 0.6
    assert merged["preferred_send_hour"].between(0, 23).all()
    sends = _sends(pipeline["root"])
    scheduled = sends.merge(
        warehouse.execute("select person_id, preferred_send_hour from marts.dim_customers").df(),
        on="person_id",
    )
    assert (pd.to_datetime(scheduled["send_at"]).dt.hour == scheduled["preferred_send_hour"]).all()


def test_campaign_metrics_reconcile_with_the_email_history(warehouse):
    metrics = warehouse.execute("select * from marts.campaign_metrics").df()
    sent = warehouse.execute(
        "select campaign_id, count(distinct person_id) as n from marts.fct_email_events"
        " where event_type = 'sent' group by 1"
    ).df()
    history = metrics[metrics["campaign_id"].str.startswith("newsletter-")]
    mailed = history[~history["is_holdout"]].groupby("campaign_id")["recipients"].sum()
    assert mailed.to_dict() == dict(zip(sent["campaign_id"], sent["n"], strict=True))
    # Our own sends' arms come from the send plan, the holdout the email service never saw.
    planned = warehouse.execute(
        "select variant, count(*) from email.send_plan where campaign_id = 'weekly-picks'"
        " and send_date = (select cast(as_of_at as date) from marts.pipeline_as_of) group by 1"
    ).fetchall()
    ours = metrics[metrics["campaign_id"] == "weekly-picks"].groupby("variant")["recipients"].sum()
    assert ours.to_dict() == dict(planned) and "holdout" in ours
    assert metrics["is_holdout"].any() and set(metrics["variant"]) >= {"a", "b", "holdout"}
    holdout = metrics[metrics["is_holdout"]]
    assert (holdout["delivered"] == 0).all() and (holdout["attributed_orders"] == 0).all()
    assert (metrics["opened"] <= metrics["delivered"]).all()
    assert (metrics["clicked"] <= metrics["recipients"]).all()
    attributed = warehouse.execute(
        "select count(*) from intermediate.int_orders_attributed where is_attributed"
    ).fetchall()[0][0]
    # Orders attributed to a click in a send the email service's export lost (a quarantined
    # sent event) count in int_orders_attributed but have no arm in campaign_metrics.
    assert 0.95 * attributed <= metrics["attributed_orders"].sum() <= attributed
    assert attributed > 0


def test_the_campaign_report_is_an_asset_linked_from_the_ui(pipeline):
    result = pipeline["result"]
    event = next(
        e
        for e in result.get_asset_materialization_events()
        if e.asset_key.to_user_string() == "campaign_report"
    )
    url = event.materialization.metadata["report"].value
    page = Path(url.removeprefix("file://")).read_text()
    assert "Variants against the holdout" in page and page.count("data:image/png") == 2
    assert "lift_mailed" in event.materialization.metadata
    text = re.sub(r'src="data:image/png;base64,[^"]+"', "", page)  # base64 may spell NaN
    assert "NaN" not in text and "window open until" in text


def test_journeys_enter_customers_and_send_due_steps_through_the_guards(pipeline, warehouse):
    state = warehouse.execute(
        "select journey_id, status, count(*) as n from email.journey_state group by all"
    ).df()
    assert {"post-purchase", "welcome"} <= set(state["journey_id"])
    sent = warehouse.execute(
        """
        select l.campaign_id, count(*) as n, bool_and(c.is_marketable) as all_marketable
        from email.send_ledger as l join marts.dim_customers as c using (person_id)
        where l.campaign_id like 'welcome-%' or l.campaign_id like 'cart-abandonment-%'
            or l.campaign_id like 'browse-abandonment-%' or l.campaign_id like 'post-purchase-%'
        group by 1
        """
    ).df()
    assert len(sent) and sent["all_marketable"].all()
    moved = warehouse.execute(
        "select count(*) from email.journey_state where journey_id = 'welcome' and next_step > 0"
    ).fetchall()[0][0]
    assert moved == sent.loc[sent["campaign_id"] == "welcome-welcome", "n"].sum()
    result = pipeline["result"]
    event = next(
        e
        for e in result.get_asset_materialization_events()
        if e.asset_key.to_user_string() == "journey_sends"
    )
    assert event.materialization.metadata["entered_now"].value == int(state["n"].sum())


def test_a_broken_campaign_fails_alone_and_the_others_are_sent(pipeline, tmp_path):
    import shutil

    campaigns = tmp_path / "campaigns"
    shutil.copytree(settings.campaigns_dir(), campaigns)
    picks = (campaigns / "weekly_picks.yaml").read_text()

    def variant_of(campaign_id: str, old: str, new: str) -> str:
        assert old in picks
        return picks.replace("campaign_id: weekly-picks", f"campaign_id: {campaign_id}").replace(
            old, new
        )

    (campaigns / "typo.yaml").write_text(variant_of("typo", "holdout_share:", "holdout_shar:"))
    (campaigns / "unknown_name.yaml").write_text(
        variant_of("unknown-name", "first_name or 'Hello'", "frist_name or 'Hello'")
    )
    # Sound, but every member fails the consent guard: not sent, and not broken either.
    (campaigns / "nobody_mailable.yaml").write_text(
        variant_of(
            "nobody-mailable",
            "schedule: {every: day}",
            "schedule: {every: day}\naudience: {all: [{segment: win_back_candidates},"
            " {field: has_marketing_consent, is: false}]}",
        )
    )
    # Due on another weekday than the run's: its typo is reported all the same.
    with duckdb.connect(str(pipeline["root"] / "warehouse.duckdb"), read_only=True) as conn:
        as_of = conn.execute("select as_of_at from marts.pipeline_as_of").fetchone()[0]
    other_day = ("monday", "tuesday", "wednesday", "thursday", "friday", "saturday", "sunday")[
        (as_of.weekday() + 1) % 7
    ]
    (campaigns / "not_due_typo.yaml").write_text(
        variant_of(
            "not-due-typo",
            "schedule: {every: day}",
            f"schedule: {{every: week, days: [{other_day}]}}\n"
            "audience: {segment: win_back_candidatez}",
        )
    )
    (campaigns / "attribute_typo.yaml").write_text(
        variant_of(
            "attribute-typo", "products[0].product_name }} and", "products[0].product_nme }} and"
        )
    )
    # Through a filter, no check before the send can see the attribute: it fails at render.
    (campaigns / "render_error.yaml").write_text(
        variant_of(
            "render-error", "products[0].product_name }} and", "(products|first).product_nme }} and"
        )
    )
    job = (
        pipeline["defs"]
        .resolve_implicit_global_asset_job_def()
        .get_subset(asset_selection={dg.AssetKey("campaign_sends")})
    )
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("MAILPIPE_CAMPAIGNS_DIR", str(campaigns))
        result = job.execute_in_process(
            instance=dg.DagsterInstance.ephemeral(), raise_on_error=False
        )

    assert result.success, [e.message for e in result.all_events if e.is_failure]
    check = next(
        e
        for e in result.get_asset_check_evaluations()
        if e.check_name == "every_campaign_is_sendable"
    )
    assert not check.passed
    broken = check.metadata["broken"].value
    assert set(broken) == {
        str(campaigns / name)
        for name in (
            "typo.yaml",
            "unknown_name.yaml",
            "attribute_typo.yaml",
            "render_error.yaml",
            "not_due_typo.yaml",
        )
    }
    assert "did you mean 'win_back_candidates'?" in broken[str(campaigns / "not_due_typo.yaml")]
    assert "did you mean 'holdout_share'?" in broken[str(campaigns / "typo.yaml")]
    assert "frist_name" in broken[str(campaigns / "unknown_name.yaml")]
    assert (
        "products[].product_nme, which its items do not have (did you mean 'product_name'?)"
        in (broken[str(campaigns / "attribute_typo.yaml")])
    )
    render_error = broken[str(campaigns / "render_error.yaml")]
    assert "variant 'a'" in render_error and "product_nme" in render_error
    materialized = next(
        e
        for e in result.get_asset_materialization_events()
        if e.asset_key.path == ["campaign_sends"]
    )
    sent = materialized.materialization.metadata["campaigns_sent"].value
    assert "weekly-picks" in sent and "render-error" not in sent and "nobody-mailable" in sent
    with duckdb.connect(str(pipeline["root"] / "warehouse.duckdb"), read_only=True) as conn:
        left = conn.execute(
            "select count(*) from email.send_plan where campaign_id = 'render-error'"
        ).fetchone()[0]
    assert left == 0, "a campaign that failed to render leaves no frozen plan"


def test_a_broken_journey_stops_alone_and_the_others_go_on(pipeline, tmp_path):
    import shutil

    journeys = tmp_path / "journeys"
    shutil.copytree(settings.journeys_dir(), journeys)
    welcome = (journeys / "welcome.yaml").read_text()
    (journeys / "broken.yaml").write_text(
        welcome.replace("journey_id: welcome", "journey_id: broken").replace(
            "after_hours:", "after_hour:", 1
        )
    )
    job = (
        pipeline["defs"]
        .resolve_implicit_global_asset_job_def()
        .get_subset(asset_selection={dg.AssetKey("journey_sends")})
    )
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("MAILPIPE_JOURNEYS_DIR", str(journeys))
        result = job.execute_in_process(
            instance=dg.DagsterInstance.ephemeral(), raise_on_error=False
        )
    assert result.success, [e.message for e in result.all_events if e.is_failure]
    check = next(
        e
        for e in result.get_asset_check_evaluations()
        if e.check_name == "every_journey_is_sendable"
    )
    assert not check.passed
    broken = check.metadata["broken"].value
    assert list(broken) == [str(journeys / "broken.yaml")]
    assert "did you mean 'after_hours'?" in broken[str(journeys / "broken.yaml")]
    materialized = next(
        e
        for e in result.get_asset_materialization_events()
        if e.asset_key.path == ["journey_sends"]
    )
    ran = materialized.materialization.metadata["by_journey"].value
    assert {"welcome", "cart-abandonment", "browse-abandonment", "post-purchase"} <= set(ran)


def test_previews_are_drawn_from_the_campaigns_own_audience_even_when_it_is_not_due(
    pipeline, capsys
):
    from orchestration import cli

    with duckdb.connect(str(pipeline["root"] / "warehouse.duckdb"), read_only=True) as conn:
        as_of = conn.execute("select as_of_at from marts.pipeline_as_of").fetchone()[0].date()
        candidates = {
            r[0]
            for r in conn.execute(
                "select person_id from marts.customer_segments"
                " where segment_name = 'win_back_candidates'"
            ).fetchall()
        }
    # win-back goes out on Tuesdays and Saturdays: preview it for a Wednesday.
    wednesday = as_of + pd.Timedelta(days=(2 - as_of.weekday()) % 7 or 7)
    assert (
        cli.main(["campaign", "preview", "--campaign", "win-back", "--date", str(wednesday)]) == 0
    )
    assert "previews of 2 variant(s)" in capsys.readouterr().out
    out_dir = pipeline["root"] / "exports" / "win-back" / wednesday.isoformat()
    samples = json.loads((out_dir / "previews" / "samples.json").read_text())
    previewed = {page["person_id"] for page in samples["pages"]}
    assert previewed and previewed <= candidates
    assert {page["segment"] for page in samples["pages"]} >= {"member 1", "least data"}
    assert (out_dir / "previews" / "a__member_1.txt").read_text().strip()


def test_a_test_send_renders_a_members_data_to_seed_addresses_and_touches_no_ledger(
    pipeline, tmp_path, capsys
):
    from email import message_from_bytes

    from orchestration import cli

    warehouse_file = str(pipeline["root"] / "warehouse.duckdb")
    with duckdb.connect(warehouse_file, read_only=True) as conn:
        ledger = conn.execute("select count(*) from email.send_ledger").fetchone()[0]
        person, first_name = conn.execute(
            "select person_id, first_name from email.send_audience"
            " where first_name is not null order by person_id limit 1"
        ).fetchone()
    args = ["campaign", "test-send", "--campaign", "weekly-picks", "--person", person]
    assert cli.main([*args, "--to", "seed@example.com", "--out", str(tmp_path)]) == 0
    assert "2 test message(s)" in capsys.readouterr().out
    files = sorted(tmp_path.glob("*.eml"))
    assert [f.name.split("__")[1] for f in files] == ["a", "b"]
    message = message_from_bytes(files[0].read_bytes())
    assert message["To"] == "seed@example.com"
    assert first_name in message["Subject"]
    with duckdb.connect(warehouse_file, read_only=True) as conn:
        assert conn.execute("select count(*) from email.send_ledger").fetchone()[0] == ledger
    assert cli.main([*args, "--smtp", "--out", str(tmp_path)]) == 2


def test_an_export_reports_its_progress_batch_by_batch(pipeline, tmp_path):
    import dataclasses
    from datetime import date

    from email_render.batch import RecipientExtras
    from email_render.campaign import load_campaigns
    from email_render.render import TEMPLATES_DIR, Renderer
    from orchestration.sends import exporting, planning

    shipped = load_campaigns(settings.campaigns_dir(), TEMPLATES_DIR)[0]
    campaign = dataclasses.replace(shipped, campaign_id="progress-test")
    day = date(2026, 12, 24)
    calls = []
    with duckdb.connect(str(pipeline["root"] / "warehouse.duckdb")) as conn:
        planning.plan(conn, campaign, day, planning.FrequencyCaps(50, 50), batch_size=25)
        run = exporting.CampaignRun(
            campaign,
            Renderer(campaign),
            day,
            tmp_path / "out",
            RecipientExtras("progress-test", "x", "https://u.example.com/"),
            "s@example.com",
            "example.com",
        )
        exporting.export(
            run, conn, workers=1, progress=lambda done, total: calls.append((done, total))
        )
        conn.execute("delete from email.send_ledger where campaign_id = 'progress-test'")
        planning.drop_unsent_plan(conn, "progress-test", day)
    total = calls[-1][1]
    assert total > 1 and calls == [(n, total) for n in range(1, total + 1)]


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
                dg.AssetCheckKey(dg.AssetKey("dim_customers"), "dim_customers_meets_expectations"),
                # Computed by the sends themselves, so selected with them.
                dg.AssetCheckKey(dg.AssetKey("campaign_sends"), "every_campaign_is_sendable"),
                dg.AssetCheckKey(dg.AssetKey("campaign_sends"), "due_campaigns_have_fresh_sources"),
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


def test_an_uplift_model_too_small_to_train_leaves_its_score_null_with_the_reason(
    pipeline, warehouse
):
    scored, explained, persuadables = warehouse.execute(
        """
        select count(uplift_7d), count(*) filter (
                where uplift_7d_missing_reason like 'no uplift model: cannot train%'
            ),
            (select count(*) from marts.customer_segments where segment_name = 'persuadables')
        from ml.customer_scores
        """
    ).fetchone()
    people = warehouse.execute("select count(*) from ml.customer_scores").fetchone()[0]
    assert scored == 0 and explained == people > 0
    assert persuadables == 0, "nobody is persuadable by a model that does not exist"
    report = (pipeline["root"] / "exports" / "reports" / "campaign_report.html").read_text()
    assert "No uplift model has been trained on this data" in report
