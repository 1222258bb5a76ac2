"""The generator plants who the mail moves; the uplift model must find them where ranking
by purchase propensity does not. People are keyed by their lower-cased email here, which
every source the model reads carries: identity resolution has its own tests."""

import mlflow
import numpy as np
import pandas as pd
import pytest

from ml import tracking, uplift
from orchestration.demo.generator import UPLIFT_TYPES, DemoParams, generate

CUSTOMERS = 40_000


def _read(folder, pattern) -> pd.DataFrame:
    return pd.concat(
        [pd.read_csv(path, dtype=str) for path in sorted(folder.glob(pattern))], ignore_index=True
    )


def _timestamps(text: pd.Series) -> pd.Series:
    return pd.to_datetime(text, errors="coerce", format="mixed", utc=True).dt.tz_localize(None)


@pytest.fixture(scope="module")
def planted(tmp_path_factory):
    root = tmp_path_factory.mktemp("planted")
    generate(root / "landing", root / "truth", DemoParams(customers=CUSTOMERS, seed=5), workers=2)
    orders = _read(root / "landing" / "shop", "orders*.csv")
    esp = _read(root / "landing" / "esp", "email_events*.csv")
    orders = pd.DataFrame(
        {
            "person_id": orders["email"].str.strip().str.lower(),
            "ordered_at": _timestamps(orders["ordered_at"]),
            "total_amount_eur": pd.to_numeric(orders["total_amount"], errors="coerce"),
        }
    ).dropna()
    email = pd.DataFrame(
        {
            "person_id": esp["email"].str.strip().str.lower(),
            "campaign_id": esp["campaign_id"],
            "event_type": esp["event_type"],
            "occurred_at": _timestamps(esp["occurred_at"]),
        }
    ).dropna()
    web = pd.DataFrame(
        {c: pd.Series(dtype=str) for c in ("person_id", "event_type", "session_id")}
    ).assign(occurred_at=pd.Series(dtype="datetime64[ns]"))
    seen = pd.concat(
        [
            orders.set_axis(["person_id", "at", "_"], axis=1),
            email.iloc[:, [0, 3]].set_axis(["person_id", "at"], axis=1),
        ]
    )
    first_seen = seen.groupby("person_id")["at"].min()
    as_of = email["occurred_at"].max()
    dataset = uplift.assignments_from_frames(
        {"orders": orders, "email_events": email, "web_events": web}, first_seen, as_of
    )
    truth = pd.read_csv(root / "truth" / "persons.csv")
    kinds = truth.assign(person_id=truth["email"].str.lower()).set_index("person_id")
    return {"result": uplift.train(dataset), "types": kinds["uplift_type"]}


def test_the_generator_plants_every_kind_of_response_in_known_proportions(planted):
    shares = planted["types"].value_counts(normalize=True)
    assert set(shares.index) == set(UPLIFT_TYPES)
    assert 0.08 < shares["persuadable"] < 0.25 and 0.01 < shares["sleeping_dog"] < 0.08


def test_uplift_ranks_true_persuadables_first_and_propensity_does_not(planted):
    result, types = planted["result"], planted["types"]
    scores = result.eval_scores
    kind = types.reindex(scores["person_id"]).to_numpy()
    persuadable = kind == "persuadable"

    def top_decile(column):
        top = np.argsort(-scores[column].to_numpy(), kind="stable")[: len(scores) // 10]
        return persuadable[top].mean()

    base = persuadable.mean()
    model_persuadable = top_decile("score")
    propensity_persuadable = top_decile("propensity")
    assert model_persuadable > 1.5 * base, (model_persuadable, base)
    assert model_persuadable > 1.3 * propensity_persuadable, (
        model_persuadable,
        propensity_persuadable,
    )
    # What mailing does to each kind, as planted: the generator's own parameters.
    params = DemoParams()
    effect = {
        "persuadable": params.persuadable_mailed_order_probability,
        "sleeping_dog": params.sleeping_dog_mailed_order_probability
        - params.campaign_week_order_probability,
    }
    true_effect = pd.Series(kind).map(effect).fillna(0.0).to_numpy()

    def planted_effect_of_top_30pct(column):
        top = np.argsort(-scores[column].to_numpy(), kind="stable")[: len(scores) * 3 // 10]
        return true_effect[top].mean()

    targeted = {c: planted_effect_of_top_30pct(c) for c in ("score", "propensity", "random")}
    assert targeted["score"] > 1.2 * targeted["random"], targeted
    assert targeted["score"] > targeted["propensity"], targeted
    # Held-out outcomes alone, without the ground truth: well above random targeting. (At
    # this size the observed Qini of two good rankings differs by less than its noise, so
    # the comparison with propensity is made on the planted truth above.)
    assert result.metrics["qini"] > result.baselines["random"]["qini"] + 0.02


def test_the_uplift_run_is_logged_registered_and_its_champion_scores(planted, tmp_path):
    tracking.configure(f"sqlite:///{tmp_path / 'mlflow.db'}", tmp_path / "mlruns", uplift.NAME)
    result = planted["result"]
    with mlflow.start_run() as run:
        decision = tracking.log_uplift_run(result, uplift.NAME, {"as_of": "2026-11-30 00:00"})
    client = mlflow.MlflowClient()
    logged = client.get_run(run.info.run_id)
    assert logged.data.metrics["holdout_qini"] == pytest.approx(result.metrics["qini"])
    artifacts = {a.path for a in client.list_artifacts(run.info.run_id)}
    assert "qini_curve.png" in artifacts
    children = client.search_runs(
        [logged.info.experiment_id], f"tags.baseline_of = '{run.info.run_id}'"
    )
    assert {c.data.params["baseline"] for c in children} == set(tracking.UPLIFT_BASELINES.values())
    beats = result.metrics["qini"] > max(m["qini"] for m in result.baselines.values())
    # The first version is champion only if it beats both baselines on the held-out Qini.
    assert decision["promoted"] == beats, decision
    model, version = tracking.load_champion_with_version(uplift.NAME)
    if not beats:
        assert (model, version) == (None, None) and "does not beat" in decision["decision"]
        return
    assert version == decision["version"] and "becomes champion" in decision["decision"]
    scored = uplift.score(model, result.datasets["training"].head(50).set_index(pd.RangeIndex(50)))
    assert scored.between(-1, 1).all() and scored.name == "uplift_7d"
