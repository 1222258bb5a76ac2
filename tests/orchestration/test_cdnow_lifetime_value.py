"""Lifetime value on real data: the CDNOW sample of Fader, Hardie & Lee (2005), read from the
installed Lifetimes wheel, landed through the landing contract and modeled by dbt, gives the
published BG/NBD and Gamma-Gamma parameters through the code the clv_model_params asset runs."""

import csv
import importlib.metadata

import duckdb
import pandas as pd
import pytest

from ml import classifiers, clv, features
from orchestration import ml_io, settings, warehouse
from orchestration.assets.customer_models import CLV_HOLDOUT_DAYS
from orchestration.ingest.landing import LANDING_TABLES
from orchestration.ingest.loader import load_table
from tests.conftest import run_dbt

AS_OF = "1997-10-01"
HOLDOUT_DAYS = 273  # 39 weeks: 1997-10-01 to 1998-06-30
# Fader, Hardie & Lee (2005), time in weeks; Fader & Hardie (2013) for Gamma-Gamma.
PUBLISHED_BGNBD = {"r": 0.243, "alpha_weeks": 4.414, "a": 0.793, "b": 2.426}
PUBLISHED_GG = {"p": 6.25, "q": 3.74, "gamma": 15.44}
TOLERANCE = 0.02


def _cdnow_sample() -> pd.DataFrame:
    path = importlib.metadata.distribution("Lifetimes").locate_file(
        "lifetimes/datasets/CDNOW_sample.txt"
    )
    return pd.read_csv(
        path,
        sep=r"\s+",
        header=None,
        names=["master_id", "customer_id", "date", "cds", "dollars"],
        dtype=str,
    )


def _land(landing) -> int:
    """The sample as a shop's order export: one order per line of the file, dollar values
    landed as the order amount."""
    sample = _cdnow_sample()
    folder = landing / "shop"
    folder.mkdir(parents=True)
    with (folder / "orders_cdnow.csv").open("w", newline="", encoding="utf-8") as fh:
        writer = csv.writer(fh)
        writer.writerow(["order_id", "customer_id", "ordered_at", "total_amount", "currency"])
        for line, row in enumerate(sample.itertuples(), start=1):
            day = f"{row.date[:4]}-{row.date[4:6]}-{row.date[6:]}"
            writer.writerow([f"cdnow-{line}", f"cdnow-{row.customer_id}", day, row.dollars, "EUR"])
    return len(sample)


@pytest.fixture(scope="module")
def cdnow(tmp_path_factory):
    root = tmp_path_factory.mktemp("cdnow")
    with pytest.MonkeyPatch.context() as mp:
        from tests.conftest import isolate

        isolate(mp, root)
        landed = _land(settings.landing_dir())
        with duckdb.connect(str(settings.warehouse_path())) as conn:
            for table in LANDING_TABLES:
                load_table(conn, table, settings.landing_dir())
        built = run_dbt(
            "build",
            "--select",
            "+fct_orders",
            "+fct_email_events",
            "+fct_web_events",
            "pipeline_as_of",
            "--indirect-selection",
            "buildable",
            dbt_vars={"warehouse_path": str(settings.warehouse_path()), "as_of": AS_OF},
            target=root / "dbt_target",
        )
        assert built.returncode == 0, built.stdout[-3000:]
        with duckdb.connect(str(settings.warehouse_path()), read_only=True) as conn:
            orders = ml_io.read_orders(conn)
            as_of = warehouse.as_of(conn)
            # Each classifier is judged on the window right after 1997-10-01 that no model saw.
            judged_at = {
                task.name: as_of + pd.Timedelta(days=task.horizon_days)
                for task in classifiers.TASKS
            }
            cutoffs = sorted({c for d in judged_at.values() for c in classifiers.cutoffs(d)})
            frame = features.compute(conn, ml_io.FEATURE_RELATIONS, cutoffs)
        yield {
            "landed": landed,
            "orders": orders,
            "as_of": as_of,
            "features": features.FeatureCache(frame, orders),
            "judged_at": judged_at,
        }


def test_every_cdnow_transaction_lands_as_an_order_of_its_customer(cdnow):
    orders = cdnow["orders"]
    assert len(orders) == cdnow["landed"] == 6_919
    assert orders["person_id"].nunique() == 2_357
    assert cdnow["as_of"] == pd.Timestamp(AS_OF)


def test_bgnbd_and_gamma_gamma_reproduce_the_published_parameters(cdnow):
    found = clv.fit_with_holdout(cdnow["orders"], cdnow["as_of"], CLV_HOLDOUT_DAYS)
    model = found.model
    assert model.converged and model.spend == "repeat"
    fitted = {
        "r": model.bgnbd.r,
        "alpha_weeks": model.bgnbd.alpha / 7,
        "a": model.bgnbd.a,
        "b": model.bgnbd.b,
        **vars(model.gamma_gamma),
    }
    for name, published in {**PUBLISHED_BGNBD, **PUBLISHED_GG}.items():
        assert fitted[name] == pytest.approx(published, rel=TOLERANCE), name
    summary = clv.summarize(cdnow["orders"], cdnow["as_of"])
    assert len(summary) == 2_357 and (summary["frequency"] > 0).sum() == 946
    assert (summary["frequency"] + 1).sum() == 4_814  # customer-days, not orders (4,960)


def test_holdout_predictions_match_what_the_published_parameters_give(cdnow):
    orders, as_of = cdnow["orders"], cdnow["as_of"]
    model = clv.fit(clv.summarize(orders, as_of))
    summary = clv.summarize(orders, as_of)
    published = clv.BgNbd(
        PUBLISHED_BGNBD["r"],
        PUBLISHED_BGNBD["alpha_weeks"] * 7,
        PUBLISHED_BGNBD["a"],
        PUBLISHED_BGNBD["b"],
    )
    ours = clv.expected_purchases(model.bgnbd, summary, HOLDOUT_DAYS).sum()
    theirs = clv.expected_purchases(published, summary, HOLDOUT_DAYS).sum()
    assert ours == pytest.approx(theirs, rel=TOLERANCE)
    actual = clv.holdout_transactions(orders, summary, as_of, HOLDOUT_DAYS)
    by_frequency = clv.calibration_by_frequency(model, summary, actual, HOLDOUT_DAYS)
    assert by_frequency["buyers"].sum() == 2_357
    # The model's own check: the buckets rise with past frequency, as the actuals do.
    assert by_frequency["predicted"].is_monotonic_increasing
    assert by_frequency["actual"].iloc[-1] > 5 * by_frequency["actual"].iloc[0]


def test_the_spend_variant_that_learns_from_first_purchases_is_an_option_not_the_default(cdnow):
    summary = clv.summarize(cdnow["orders"], cdnow["as_of"])
    everyone = clv.fit(summary, spend="all")
    assert everyone.spend == "all"
    assert everyone.gamma_gamma.gamma != pytest.approx(PUBLISHED_GG["gamma"], rel=TOLERANCE)


@pytest.mark.parametrize("task", classifiers.TASKS, ids=lambda task: task.name)
def test_propensity_and_churn_train_on_cdnow_and_beat_chance_like_bgnbd(cdnow, task):
    result = classifiers.train(task, cdnow["features"], cdnow["judged_at"][task.name])
    assert result.eval_cutoff == cdnow["as_of"]
    assert result.metrics["roc_auc"] > 0.7, result.metrics
    # The BG/NBD answer to the same question is the baseline the champion gate holds it to.
    assert set(result.baselines) == {"logreg", "bgnbd"}
    assert result.baselines["bgnbd"]["roc_auc"] > 0.7, result.baselines
