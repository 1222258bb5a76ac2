import numpy as np
import pandas as pd
import pytest

from ml import personas


def _people(seed=0):
    """Three kinds of people planted in the data: loyal big spenders, lapsed one-off buyers,
    and email-engaged prospects who never ordered."""
    rng = np.random.default_rng(seed)
    n = 300
    frames = []
    for kind, last, orders, revenue, open_rate, sessions in (
        ("loyal", 10, 12, 1500, 0.3, 6),
        ("lapsed", 600, 1, 40, 0.05, 0),
        ("prospect", 9999, 0, 0, 0.7, 1),
    ):
        frames.append(
            pd.DataFrame(
                {
                    "kind": kind,
                    "days_since_last_order": last + rng.normal(0, 3, n).clip(0),
                    "order_count": orders,
                    "revenue_eur": revenue * rng.uniform(0.8, 1.2, n),
                    "open_rate_90d": np.clip(open_rate + rng.normal(0, 0.03, n), 0, 1),
                    "sessions_30d": sessions,
                    "has_ordered": float(orders > 0),
                }
            )
        )
    people = pd.concat(frames, ignore_index=True)
    people.index = [f"p{i}" for i in range(len(people))]
    return people


def test_planted_groups_come_back_as_named_personas():
    people = _people()
    found = personas.fit(people, ks=(3, 4))
    assert found.k == 3 and found.silhouette > 0.6
    by_kind = pd.crosstab(people["kind"], found.assignments.map(found.names))
    assert (by_kind.max(axis=1) == 300).all()  # every planted group lands in one persona
    names = {kind: by_kind.loc[kind].idxmax() for kind in by_kind.index}
    assert len(set(names.values())) == 3
    assert "prospects" in names["prospect"] and "email-engaged" in names["prospect"]
    assert "lapsed" in names["lapsed"] or "low-spending" in names["lapsed"]
    assert "big-spending" in names["loyal"] or "frequent" in names["loyal"]


def test_refunds_larger_than_purchases_do_not_make_personas_fail():
    from ml import features as feature_module

    rng = np.random.default_rng(0)
    frame = pd.DataFrame(
        rng.gamma(2.0, 3.0, size=(300, len(feature_module.FEATURE_COLUMNS))),
        columns=feature_module.FEATURE_COLUMNS,
    )
    frame["has_ordered"] = 1.0
    frame.loc[:10, "revenue_eur"] = -5000.0  # net revenue after a big refund
    found = personas.fit(frame)
    assert found.assignments.notna().all() and found.k >= 4


def test_identical_profiles_cannot_make_personas_and_say_so():
    from ml import features as feature_module
    from ml.errors import CannotTrain

    frame = pd.DataFrame(0.0, index=range(50), columns=feature_module.FEATURE_COLUMNS)
    with pytest.raises(CannotTrain, match="1 distinct profiles"):
        personas.fit(frame)
