"""Runs to the end on anyone's data: degenerate datasets, landed as files and run end to end
through the Dagster definitions. Every asset materializes; a model the data cannot support
says why; the sends go out to whoever may be mailed."""

from datetime import timedelta

import dagster as dg
import duckdb
import numpy as np
import pytest

from orchestration import settings
from tests.conftest import isolate
from tests.orchestration import landing_files as lf
from tests.orchestration.landing_files import END

CLASSIFIERS = {"purchase_propensity_model", "churn_risk_model"}
# No dataset here has the hundreds of held-out conversions an uplift model needs: each
# must say so and go on.
UPLIFT = "customer_uplift"
ALL_MODELS = {*CLASSIFIERS, "clv_model_params", "customer_personas", UPLIFT}


def crm_only(landing):
    lf.customers(landing, 30)


def crm_and_orders(landing):
    people = lf.customers(landing, 150)
    lf.orders(landing, lf.order_history(people, lf.products(landing)))


def one_product_catalogue(landing):
    people = lf.customers(landing, 150)
    lf.orders(landing, lf.order_history(people, lf.products(landing, n=1)))


def one_order_per_buyer(landing):
    people = lf.customers(landing, 80)
    lf.orders(landing, lf.repeat_orders(people, lf.products(landing), per_person=1))


def refunds_and_zero_value_orders(landing):
    people = lf.customers(landing, 150)
    rows = lf.order_history(people, lf.products(landing))
    rows += [
        {"customer_id": "C0001", "ordered_at": END - timedelta(days=2), "total_amount": -5000.0},
        {"customer_id": "C0002", "ordered_at": END - timedelta(days=4), "total_amount": 0.0},
        {"customer_id": "C0003", "ordered_at": END - timedelta(days=5), "total_amount": -20.0},
    ]
    lf.orders(landing, rows)


def every_order_on_one_day(landing):
    people = lf.customers(landing, 60)
    rows = lf.repeat_orders(people, lf.products(landing), per_person=2)
    for row in rows:
        row["ordered_at"] = END - timedelta(hours=3)
    lf.orders(landing, rows)


def single_customer(landing):
    people = lf.customers(landing, 1)
    lf.orders(landing, lf.repeat_orders(people, lf.products(landing), per_person=4))


def twenty_customers(landing):
    people = lf.customers(landing, 20)
    lf.orders(landing, lf.repeat_orders(people, lf.products(landing), per_person=3))


def everyone_unsubscribed(landing):
    people = lf.customers(landing, 150, consent=False)
    lf.orders(landing, lf.order_history(people, lf.products(landing)))


def one_foreign_currency(landing):
    people = lf.customers(landing, 150)
    rows = lf.order_history(people, lf.products(landing))
    for row in rows:
        row["currency"] = "USD"
    lf.orders(landing, rows)


def campaigns_without_opens_or_clicks(landing):
    people = lf.customers(landing, 150)
    lf.orders(landing, lf.order_history(people, lf.products(landing)))
    lf.email_events(
        landing,
        [
            {
                "campaign_id": f"news-{week}",
                "email": person["email"],
                "event_type": event,
                "variant": "a",
                "occurred_at": END - timedelta(days=7 * week + 2),
            }
            for week in range(1, 6)
            for person in people
            for event in ("sent", "delivered")
        ],
    )


def web_events_without_logins(landing):
    lf.customers(landing, 40)
    product_ids = lf.products(landing)
    lf.web_events(
        landing,
        [
            {
                "event_type": event,
                "anonymous_id": f"anon-{visitor}",
                "session_id": f"s-{visitor}-{day}",
                "product_id": product_ids[(visitor + day) % len(product_ids)],
                "occurred_at": END - timedelta(days=day, hours=visitor % 12),
            }
            for visitor in range(30)
            for day in range(0, 60, 6)
            for event in ("page_view", "product_view")
        ],
    )


# dataset -> (models expected to be skipped, whether anyone is mailed)
DATASETS = {
    crm_only: (ALL_MODELS, True),
    crm_and_orders: ({UPLIFT}, True),
    one_product_catalogue: ({UPLIFT}, True),
    one_order_per_buyer: (ALL_MODELS - {"customer_personas"}, True),
    refunds_and_zero_value_orders: ({UPLIFT}, True),
    every_order_on_one_day: (ALL_MODELS, True),
    single_customer: (ALL_MODELS, True),
    twenty_customers: (CLASSIFIERS | {"clv_model_params", UPLIFT}, True),
    everyone_unsubscribed: ({UPLIFT}, False),
    one_foreign_currency: ({UPLIFT}, True),
    campaigns_without_opens_or_clicks: ({UPLIFT}, True),
    web_events_without_logins: (ALL_MODELS, True),
}


@pytest.mark.parametrize("dataset", DATASETS, ids=lambda d: d.__name__)
def test_every_asset_materializes_and_says_what_it_skipped(dataset, tmp_path, monkeypatch):
    isolate(monkeypatch, tmp_path)
    dataset(settings.landing_dir())
    from orchestration.definitions import build_definitions

    defs = build_definitions()
    job = defs.resolve_implicit_global_asset_job_def()
    result = job.execute_in_process(instance=dg.DagsterInstance.ephemeral(), raise_on_error=False)
    failures = [e.message for e in result.all_events if e.is_failure]
    assert result.success, failures

    materialized = {
        e.asset_key.to_user_string(): e.materialization.metadata
        for e in result.get_asset_materialization_events()
    }
    every_asset = {k.to_user_string() for k in defs.resolve_asset_graph().get_all_asset_keys()}
    assert set(materialized) == every_asset, every_asset - set(materialized)

    expected_skips, anyone_mailed = DATASETS[dataset]
    skipped = {
        key: metadata["skipped_because"].value
        for key, metadata in materialized.items()
        if "skipped" in metadata and metadata["skipped"].value
    }
    assert set(skipped) == expected_skips, skipped
    checks = {
        e.asset_key.to_user_string(): e
        for e in result.get_asset_check_evaluations()
        if e.check_name == "model_trained_on_this_data"
    }
    for key in ALL_MODELS:
        assert checks[key].passed == (key not in skipped), key
        if key in skipped:
            assert checks[key].severity == dg.AssetCheckSeverity.WARN
            assert skipped[key].startswith("cannot "), skipped[key]

    with duckdb.connect(str(settings.warehouse_path()), read_only=True) as conn:
        sent, consenting = conn.execute(
            "select (select count(*) from email.send_ledger),"
            " (select count(*) from marts.dim_customers where is_marketable)"
        ).fetchone()
        features = conn.execute("select * from ml.customer_features").df()
        scored, people = conn.execute(
            "select count(purchase_propensity), count(*) from ml.customer_scores"
        ).fetchone()
        unexplained = conn.execute(
            "select count(*) from ml.customer_scores"
            " where purchase_propensity is null and purchase_propensity_missing_reason is null"
        ).fetchone()[0]
    assert unexplained == 0
    if "purchase_propensity_model" not in skipped:
        assert scored == people > 0, "a trained champion scores everyone"
    numbers = features.select_dtypes("number").to_numpy(float)
    assert np.isfinite(numbers).all(), "a feature is NaN or infinite"
    assert (sent > 0) == anyone_mailed and (consenting > 0) == anyone_mailed


def test_on_crm_data_alone_the_welcome_journey_and_the_newsletter_go_out_with_previews(
    tmp_path, monkeypatch
):
    isolate(monkeypatch, tmp_path)
    # Under the default cap of one a day the newsletter goes first and the welcome waits for
    # the next run (campaign priorities are issue 20); two a day lets both go today.
    monkeypatch.setenv("MAILPIPE_CAP_PER_DAY", "2")
    crm_only(settings.landing_dir())
    from orchestration.definitions import build_definitions

    job = build_definitions().resolve_implicit_global_asset_job_def()
    result = job.execute_in_process(instance=dg.DagsterInstance.ephemeral(), raise_on_error=False)
    assert result.success
    with duckdb.connect(str(settings.warehouse_path()), read_only=True) as conn:
        sent = dict(
            conn.execute(
                "select campaign_id, count(*) from email.send_ledger group by 1"
            ).fetchall()
        )
    assert sent.get("welcome-welcome", 0) >= 1
    assert sent.get("weekly-picks", 0) >= 20
    previews = list(settings.exports_dir().glob("weekly-picks/*/previews/index.html"))
    assert previews and "preview" in previews[0].read_text()
