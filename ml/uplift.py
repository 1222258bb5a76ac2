"""Uplift: who buys *because* of an email, learnt from past campaigns' randomized holdouts.

Each past campaign assigned people at random to be mailed or held out. A two-model learner
fits the chance of a 7-day conversion when mailed and when held out, each with gradient
boosting on point-in-time features as of the campaign's first assignment; a person's uplift
is the difference. Propensity ranks who will buy; uplift ranks who buys because of the
mail, which is who a campaign should reach.

It is judged on people kept out of training (cross-fitted: each third of people scored by
a model fit on the other two) by the Qini coefficient and by the uplift in the top 10% and 30%, next to random targeting
and to ranking by purchase propensity: a classifier of the same conversion that ignores
who was mailed.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import duckdb
import numpy as np
import pandas as pd
from sklearn.base import BaseEstimator
from sklearn.ensemble import HistGradientBoostingClassifier

from ml import features as feature_sql
from ml.errors import CannotTrain
from ml.features import FEATURE_COLUMNS

NAME = "customer_uplift"  # the registered model and its experiment
HORIZON_DAYS = 7
TOP_SHARES = (0.1, 0.3)
FOLDS = 3
# Below this many conversions in either arm of training or evaluation, a difference of two
# models is noise: the model says so and the run goes on.
MIN_CONVERSIONS_PER_ARM = 30
MAX_TRAIN_ROWS = 400_000
# Assignments judged (and trained on, up to MAX_TRAIN_ROWS): a random sample past this many.
# At 1M customers 26 campaigns assigned 3.7M people, whose features at 26 cutoffs at once ran
# DuckDB out of memory.
MAX_ASSIGNMENTS = 1_000_000
SCORE_COLUMN = "uplift_7d"

# Relations the assignment query reads, as for ml.features: email_events holds person_id,
# campaign_id, event_type and occurred_at (a 'sent' or 'holdout' event is an assignment);
# orders holds person_id, ordered_at, total_amount_eur.
ASSIGNMENTS_SQL = """
with

assigned as (
    select
        campaign_id,
        person_id,
        bool_or(event_type = 'sent') as is_mailed,
        min(occurred_at) as assigned_at
    from {email_events}
    where event_type in ('sent', 'holdout') and campaign_id is not null and person_id is not null
    group by campaign_id, person_id
),

campaigns as (
    select campaign_id, min(assigned_at) as cutoff_at, max(assigned_at) as last_assigned_at
    from assigned
    group by campaign_id
    -- a randomized comparison needs both arms, and a window that has closed
    having bool_or(is_mailed) and bool_or(not is_mailed)
        and max(assigned_at) + interval {horizon} day <= $as_of
),

conversions as (
    select
        assigned.campaign_id,
        assigned.person_id,
        count(orders.person_id) > 0 as has_converted,
        coalesce(sum(orders.total_amount_eur), 0) as revenue_7d_eur
    from assigned
    left join {orders} as orders
        on
            assigned.person_id = orders.person_id
            and orders.ordered_at >= assigned.assigned_at
            and orders.ordered_at < assigned.assigned_at + interval {horizon} day
    group by assigned.campaign_id, assigned.person_id
),

final as (
    select
        assigned.campaign_id,
        assigned.person_id,
        campaigns.cutoff_at,
        assigned.is_mailed,
        conversions.has_converted,
        conversions.revenue_7d_eur
    from assigned
    inner join campaigns on assigned.campaign_id = campaigns.campaign_id
    inner join conversions
        on assigned.campaign_id = conversions.campaign_id
        and assigned.person_id = conversions.person_id
)

select * from final order by cutoff_at, person_id
"""


def assignments(conn: duckdb.DuckDBPyConnection, relations: dict[str, str], as_of) -> pd.DataFrame:
    """Every randomized assignment of a campaign whose 7-day window closed by `as_of`, with
    its outcome, joined to the person's features as of the campaign's first assignment."""
    sql = ASSIGNMENTS_SQL.format(
        email_events=relations["email_events"], orders=relations["orders"], horizon=HORIZON_DAYS
    )
    rows = conn.execute(sql, {"as_of": pd.Timestamp(as_of).to_pydatetime()}).df()
    if rows.empty:
        return rows.assign(**{c: pd.Series(dtype=float) for c in FEATURE_COLUMNS})
    if len(rows) > MAX_ASSIGNMENTS:
        rows = rows.sample(MAX_ASSIGNMENTS, random_state=0).sort_index(ignore_index=True)
    # One cutoff at a time, over the facts of the people assigned then: memory is one
    # campaign's people, not every person at every campaign's cutoff.
    found = []
    for cutoff, assigned in rows.groupby("cutoff_at", sort=True):
        conn.register("_uplift_people", assigned[["person_id"]].drop_duplicates())
        scoped = {
            name: f"(select * from {relations[name]} as r"
            " where r.person_id in (select person_id from _uplift_people))"
            for name in feature_sql.RELATIONS
        }
        try:
            found.append(feature_sql.compute(conn, scoped, [cutoff]))
        finally:
            conn.unregister("_uplift_people")
    return rows.merge(pd.concat(found), on=["person_id", "cutoff_at"], how="inner")


def assignments_from_frames(
    facts: dict[str, pd.DataFrame], first_seen: pd.Series, as_of
) -> pd.DataFrame:
    """`assignments` over DataFrames (orders, email_events with campaign_id, web_events)."""
    with feature_sql.frames_connection(facts, first_seen) as conn:
        return assignments(conn, {n: n for n in feature_sql.RELATIONS}, as_of)


def _classifier(random_state: int, min_samples_leaf: int) -> HistGradientBoostingClassifier:
    return HistGradientBoostingClassifier(
        learning_rate=0.05,
        max_iter=150,
        max_leaf_nodes=7,
        min_samples_leaf=min_samples_leaf,
        l2_regularization=1.0,
        early_stopping=False,
        random_state=random_state,
    )


class TwoModelUplift(BaseEstimator):
    """P(convert | x, mailed) - P(convert | x, held out), each arm its own classifier. The
    holdout arm is the smaller (a tenth of a campaign, typically): its trees need fewer
    people per leaf."""

    def __init__(self, random_state: int = 0):
        self.random_state = random_state

    def fit(self, x: pd.DataFrame, is_mailed: np.ndarray, y: np.ndarray) -> TwoModelUplift:
        mailed = np.asarray(is_mailed, dtype=bool)
        y = np.asarray(y, dtype=int)
        leaf = max(20, min(200, int(min(mailed.sum(), (~mailed).sum()) // 50)))
        self.mailed_model_ = _classifier(self.random_state, leaf).fit(x[mailed], y[mailed])
        self.holdout_model_ = _classifier(self.random_state, leaf).fit(x[~mailed], y[~mailed])
        return self

    def predict(self, x: pd.DataFrame) -> np.ndarray:
        """The uplift: how much mailing raises the chance of a conversion within 7 days."""
        x = x[FEATURE_COLUMNS]
        return (
            self.mailed_model_.predict_proba(x)[:, 1] - self.holdout_model_.predict_proba(x)[:, 1]
        )


def qini_curve(y: np.ndarray, is_mailed: np.ndarray, score: np.ndarray):
    """Targeting the top k by score, the incremental conversions among them: mailed
    conversions minus held-out conversions scaled to the mailed count. Returns (k, gain),
    both starting at 0."""
    order = np.argsort(-np.asarray(score, dtype=float), kind="stable")
    y = np.asarray(y, dtype=float)[order]
    t = np.asarray(is_mailed, dtype=bool)[order]
    mailed, held = np.cumsum(t), np.cumsum(~t)
    mailed_y, held_y = np.cumsum(y * t), np.cumsum(y * ~t)
    scaled = np.divide(held_y * mailed, held, out=np.zeros(len(y)), where=held > 0)
    k = np.arange(len(y) + 1)
    return k, np.concatenate([[0.0], mailed_y - scaled])


def qini_coefficient(y, is_mailed, score) -> float:
    """Area between the Qini curve and random targeting's straight line, as a share of the
    area a perfect ranking would have: 0 is random, 1 perfect, below 0 worse than random."""
    y, t = np.asarray(y, dtype=float), np.asarray(is_mailed, dtype=bool)
    if len(y) == 0 or t.all() or not t.any():
        return float("nan")

    def area(s) -> float:
        k, gain = qini_curve(y, t, s)
        return float(np.trapezoid(gain - k * gain[-1] / k[-1], k))

    # A perfect ranking puts mailed converters first and held-out converters last.
    perfect = area(y * t - y * ~t)
    return area(score) / perfect if perfect > 0 else float("nan")


def uplift_at(y, is_mailed, score, share: float) -> float:
    """Conversion rate of the mailed minus that of the held out, among the top `share`."""
    y, t = np.asarray(y, dtype=float), np.asarray(is_mailed, dtype=bool)
    n = max(1, int(round(len(y) * share)))
    top = np.argsort(-np.asarray(score, dtype=float), kind="stable")[:n]
    mailed, held = t[top], ~t[top]
    if not mailed.any() or not held.any():
        return float("nan")
    return float(y[top][mailed].mean() - y[top][held].mean())


def evaluate(y, is_mailed, score) -> dict:
    metrics = {"qini": qini_coefficient(y, is_mailed, score)}
    for share in TOP_SHARES:
        metrics[f"uplift_top_{int(share * 100)}pct"] = uplift_at(y, is_mailed, score, share)
    metrics["rows"] = int(len(y))
    return metrics


@dataclass
class UpliftResult:
    model: TwoModelUplift
    params: dict
    metrics: dict
    # "propensity" and "random", each evaluated on the same held-out people
    baselines: dict
    # held-out rows: campaign_id, person_id, label, is_mailed, and the model's and each baseline's score
    eval_scores: pd.DataFrame = field(repr=False)
    example: pd.DataFrame = field(repr=False)
    datasets: dict = field(repr=False, default_factory=dict)


def _folds(person_ids: pd.Series, folds: int, salt: str) -> np.ndarray:
    """Each row's fold, by a stable hash of the person: a person's assignments stay together.
    One vectorized hash (SipHash keyed by the salt) per person, not a Python call per row."""
    codes, people = pd.factorize(person_ids.astype(str))
    key = f"{salt:<16}"[:16]
    hashed = pd.util.hash_pandas_object(pd.Series(people), index=False, hash_key=key)
    return (hashed.to_numpy() % folds).astype(int)[codes]


def _enough(frame: pd.DataFrame, where: str) -> None:
    mailed = frame["is_mailed"].to_numpy(dtype=bool)
    y = frame["has_converted"].to_numpy(dtype=bool)
    counts = {"mailed": int(y[mailed].sum()), "held-out": int(y[~mailed].sum())}
    short = {arm: n for arm, n in counts.items() if n < MIN_CONVERSIONS_PER_ARM}
    if short:
        raise CannotTrain(
            f"cannot train the uplift model: {where}, "
            + ", ".join(f"the {arm} arm has {n} conversions" for arm, n in short.items())
            + f" within {HORIZON_DAYS} days of assignment; each arm needs at least"
            f" {MIN_CONVERSIONS_PER_ARM}, so more campaigns with a holdout are needed"
        )


def train(dataset: pd.DataFrame, random_state: int = 0) -> UpliftResult:
    """Judge by cross-fitting: people fall in FOLDS groups, and each group is scored by a
    model fit on the others, so every assignment is judged by a model that never saw its
    person; then refit on everyone to score. All of the data judges, not a slice: the Qini
    of two rankings differs by less than the noise of a 30% holdout at tens of thousands."""
    if dataset.empty:
        raise CannotTrain(
            "cannot train the uplift model: no campaign with both a mailed group and a"
            f" holdout has a {HORIZON_DAYS}-day window that has closed"
        )
    _enough(dataset, "on all past campaigns")
    fold = _folds(dataset["person_id"], FOLDS, f"uplift{random_state}")
    uplift_scores = np.zeros(len(dataset))
    propensity_scores = np.zeros(len(dataset))
    for k in range(FOLDS):
        fit_rows = _subsample(dataset[fold != k], random_state)
        _enough(fit_rows, f"in training fold {k + 1} of {FOLDS}")
        x, t, y = (
            fit_rows[FEATURE_COLUMNS],
            fit_rows["is_mailed"].to_numpy(bool),
            fit_rows["has_converted"].to_numpy(int),
        )
        scored = dataset.loc[fold == k, FEATURE_COLUMNS]
        uplift_scores[fold == k] = TwoModelUplift(random_state).fit(x, t, y).predict(scored)
        propensity = _classifier(random_state, 200).fit(x, y)
        propensity_scores[fold == k] = propensity.predict_proba(scored)[:, 1]
    et = dataset["is_mailed"].to_numpy(bool)
    ey = dataset["has_converted"].to_numpy(int)
    scores = pd.DataFrame(
        {
            "campaign_id": dataset["campaign_id"].to_numpy(),
            "person_id": dataset["person_id"].to_numpy(),
            "label": ey,
            "is_mailed": et,
            "score": uplift_scores,
            "propensity": propensity_scores,
            "random": np.random.default_rng(random_state).random(len(ey)),
        }
    )
    metrics = evaluate(ey, et, scores["score"])
    baselines = {name: evaluate(ey, et, scores[name]) for name in ("propensity", "random")}
    everyone = _subsample(dataset, random_state)
    final = TwoModelUplift(random_state).fit(
        everyone[FEATURE_COLUMNS],
        everyone["is_mailed"].to_numpy(bool),
        everyone["has_converted"].to_numpy(int),
    )
    params = {
        "learner": "two-model (T-learner): gradient boosting per arm",
        "horizon_days": HORIZON_DAYS,
        "campaigns": int(dataset["campaign_id"].nunique()),
        "evaluation": f"{FOLDS}-fold cross-fitting by person",
        "eval_rows": len(dataset),
        "train_rows": len(everyone),
        "mailed_share": round(float(dataset["is_mailed"].mean()), 4),
        "features": ",".join(FEATURE_COLUMNS),
    }
    columns = [*FEATURE_COLUMNS, "is_mailed", "has_converted"]
    return UpliftResult(
        model=final,
        params=params,
        metrics=metrics,
        baselines=baselines,
        eval_scores=scores,
        example=dataset[FEATURE_COLUMNS].head(5).reset_index(drop=True),
        datasets={"training": everyone[columns].reset_index(drop=True)},
    )


def _subsample(frame: pd.DataFrame, random_state: int) -> pd.DataFrame:
    if len(frame) <= MAX_TRAIN_ROWS:
        return frame
    return frame.sample(MAX_TRAIN_ROWS, random_state=random_state).sort_index()


def score(model: TwoModelUplift, features_at_as_of: pd.DataFrame) -> pd.Series:
    """Uplift per person at the as-of date, indexed by person_id."""
    return pd.Series(
        model.predict(features_at_as_of[FEATURE_COLUMNS]),
        index=features_at_as_of.index,
        name=SCORE_COLUMN,
    )
