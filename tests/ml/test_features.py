import numpy as np
import pandas as pd

from ml.classifiers import CHURN, PURCHASE
from ml.features import (
    FEATURE_COLUMNS,
    RELATIONS,
    FeatureCache,
    build_features,
    compute,
    frames_connection,
    store,
)

CUTOFF = pd.Timestamp("2026-06-01")


def _facts():
    orders = pd.DataFrame(
        {
            "person_id": ["a", "a", "b", "c"],
            "ordered_at": pd.to_datetime(["2026-01-10", "2026-05-20", "2026-03-01", "2026-06-10"]),
            "total_amount_eur": [50.0, 70.0, 20.0, 99.0],
        }
    )
    email = pd.DataFrame(
        {
            "person_id": ["a", "a", "b"],
            "event_type": ["sent", "open", "sent"],
            "occurred_at": pd.to_datetime(["2026-05-01", "2026-05-02", "2026-05-01"]),
        }
    )
    web = pd.DataFrame(
        {
            "person_id": ["a", "b", "b"],
            "event_type": ["product_view", "add_to_cart", "product_view"],
            "session_id": ["s1", "s2", "s2"],
            "occurred_at": pd.to_datetime(["2026-05-25", "2026-05-30", "2026-05-30"]),
        }
    )
    return orders, email, web


def test_features_only_see_data_before_the_cutoff():
    orders, email, web = _facts()
    before = build_features(pd.Series(["a", "b", "c"]), orders, email, web, CUTOFF)
    later = pd.Timestamp("2026-06-15")
    orders2 = pd.concat(
        [
            orders,
            pd.DataFrame(
                {
                    "person_id": ["a", "b"],
                    "ordered_at": [later, CUTOFF],
                    "total_amount_eur": [500.0, 1.0],
                }
            ),
        ]
    )
    email2 = pd.concat(
        [email, pd.DataFrame({"person_id": ["b"], "event_type": ["click"], "occurred_at": [later]})]
    )
    web2 = pd.concat(
        [
            web,
            pd.DataFrame(
                {
                    "person_id": ["c"],
                    "event_type": ["product_view"],
                    "session_id": ["s9"],
                    "occurred_at": [CUTOFF],
                }
            ),
        ]
    )
    after = build_features(pd.Series(["a", "b", "c"]), orders2, email2, web2, CUTOFF)
    pd.testing.assert_frame_equal(before, after)


def test_features_describe_recency_frequency_and_engagement():
    orders, email, web = _facts()
    f = build_features(pd.Series(["a", "b", "c"]), orders, email, web, CUTOFF)
    assert list(f.columns) == FEATURE_COLUMNS
    assert f.loc["a", "order_count"] == 2 and f.loc["a", "revenue_eur"] == 120.0
    assert f.loc["a", "days_since_last_order"] == 12
    assert f.loc["a", "open_rate_90d"] == 1.0
    assert f.loc["b", "cart_adds_30d"] == 1 and f.loc["b", "sessions_30d"] == 1
    assert f.loc["c", "has_ordered"] == 0  # c's only order is after the cutoff
    assert np.isfinite(f.to_numpy()).all()


def test_labels_come_from_the_horizon_after_the_cutoff():
    orders, _, _ = _facts()
    people = pd.Index(["a", "b", "c"])
    assert PURCHASE.label(people, orders, CUTOFF, 30).to_dict() == {"a": 0, "b": 0, "c": 1}
    assert CHURN.label(people, orders, CUTOFF, 90).to_dict() == {"a": 1, "b": 1, "c": 0}


def test_churn_population_is_past_buyers_only():
    orders, email, web = _facts()
    f = build_features(pd.Series(["a", "b", "c"]), orders, email, web, CUTOFF)
    assert f[CHURN.population(f)].index.tolist() == ["a", "b"]
    assert f[PURCHASE.population(f)].index.tolist() == ["a", "b", "c"]


def _two_cutoffs():
    """Facts, when each person was first seen, and two cutoffs (only a is known at the first)."""
    orders, email, web = _facts()
    first_seen = pd.Series(
        pd.to_datetime(["2026-01-10", "2026-03-01", "2026-05-30"]), index=["a", "b", "c"]
    )
    facts = {"orders": orders, "email_events": email, "web_events": web}
    return facts, first_seen, [CUTOFF - pd.Timedelta(days=100), CUTOFF]


def test_features_at_several_cutoffs_match_one_cutoff_at_a_time():
    facts, first_seen, cutoffs = _two_cutoffs()
    orders, email, web = facts["orders"], facts["email_events"], facts["web_events"]
    cache = FeatureCache.from_facts(facts, first_seen, cutoffs)
    assert cache.at(cutoffs[0]).index.tolist() == ["a"]  # b and c were not known yet
    one = build_features(pd.Series(["a", "b", "c"]), orders, email, web, CUTOFF)
    pd.testing.assert_frame_equal(cache.at(CUTOFF), one, check_names=False)


def test_features_stored_in_the_warehouse_are_the_features_computed():
    facts, first_seen, cutoffs = _two_cutoffs()
    with frames_connection(facts, first_seen) as conn:
        relations = {name: name for name in RELATIONS}
        computed = compute(conn, relations, cutoffs)
        assert store(conn, relations, cutoffs, "stored") == len(computed) == 4
        stored = conn.execute("select * from stored order by cutoff_at, person_id").df()
    pd.testing.assert_frame_equal(stored, computed, check_dtype=False)
    assert stored[FEATURE_COLUMNS].dtypes.eq("float64").all()
