import numpy as np
import pandas as pd

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
