import numpy as np
import pandas as pd
import pytest

from ml import uplift
from ml.errors import CannotTrain
from ml.features import FEATURE_COLUMNS


def test_a_perfect_ranking_scores_one_and_its_reverse_below_zero():
    rng = np.random.default_rng(0)
    n = 4_000
    mailed = rng.random(n) < 0.5
    responds = rng.random(n) < 0.3
    y = (responds & mailed).astype(int)  # only mailed responders convert: pure uplift
    truth = responds.astype(float)
    assert uplift.qini_coefficient(y, mailed, y * mailed - y * ~mailed) == pytest.approx(1.0)
    assert uplift.qini_coefficient(y, mailed, truth) > 0.6
    assert uplift.qini_coefficient(y, mailed, -truth) < -0.6
    assert abs(uplift.qini_coefficient(y, mailed, rng.random(n))) < 0.1


def test_uplift_at_the_top_is_the_mailed_minus_the_held_out_rate_among_them():
    score = np.array([9, 8, 7, 6, 1, 1, 1, 1, 1, 1.0])
    mailed = np.array([1, 1, 0, 0, 1, 0, 1, 0, 1, 0], dtype=bool)
    y = np.array([1, 1, 0, 1, 0, 0, 0, 0, 0, 1])
    # top 40%: mailed 2 of 2 convert, held out 1 of 2
    assert uplift.uplift_at(y, mailed, score, 0.4) == pytest.approx(0.5)
    k, gain = uplift.qini_curve(y, mailed, score)
    assert k[0] == 0 and gain[0] == 0
    assert gain[4] == pytest.approx(2 - 1 * 2 / 2)


def _facts():
    """Ann and Bob assigned to a campaign on 1 March (Ann mailed, Bob held out), a second
    campaign on 20 March whose window has not closed by the as-of date of 25 March."""
    email = pd.DataFrame(
        {
            "person_id": ["ann", "bob", "ann", "bob"],
            "campaign_id": ["march", "march", "late", "late"],
            "event_type": ["sent", "holdout", "sent", "holdout"],
            "occurred_at": pd.to_datetime(
                ["2026-03-01 09:05", "2026-03-01 09:00", "2026-03-20 09:00", "2026-03-20 09:00"]
            ),
        }
    )
    orders = pd.DataFrame(
        {
            "person_id": ["ann", "ann", "bob"],
            "ordered_at": pd.to_datetime(
                ["2026-02-01 10:00", "2026-03-03 10:00", "2026-03-09 10:00"]
            ),
            "total_amount_eur": [10.0, 25.0, 40.0],
        }
    )
    web = pd.DataFrame(
        {
            "person_id": pd.Series(dtype=str),
            "event_type": pd.Series(dtype=str),
            "session_id": pd.Series(dtype=str),
            "occurred_at": pd.Series(dtype="datetime64[ns]"),
        }
    )
    first_seen = pd.Series(pd.to_datetime(["2026-01-01", "2026-01-01"]), index=["ann", "bob"])
    return {"orders": orders, "email_events": email, "web_events": web}, first_seen


def test_assignments_count_seven_days_and_see_only_what_came_before_the_campaign():
    facts, first_seen = _facts()
    rows = uplift.assignments_from_frames(facts, first_seen, "2026-03-25").set_index("person_id")
    assert set(rows["campaign_id"]) == {"march"}, "late's window is still open"
    assert rows.loc["ann", "is_mailed"] and not rows.loc["bob", "is_mailed"]
    assert rows.loc["ann", "has_converted"] and rows.loc["ann", "revenue_7d_eur"] == 25.0
    assert not rows.loc["bob", "has_converted"], "Bob's order came 8 days after assignment"
    # Features are as of the campaign's first assignment (Bob's, 09:00): Ann's February
    # order counts, her March order does not.
    assert rows.loc["ann", "order_count"] == 1
    assert (rows["cutoff_at"] == pd.Timestamp("2026-03-01 09:00")).all()


def test_too_few_held_out_conversions_is_a_reason_not_a_crash():
    rng = np.random.default_rng(1)
    n = 3_000
    frame = pd.DataFrame(rng.random((n, len(FEATURE_COLUMNS))), columns=FEATURE_COLUMNS)
    frame["person_id"] = [f"p{i}" for i in range(n)]
    frame["campaign_id"] = "spring"
    frame["is_mailed"] = rng.random(n) < 0.97
    frame["has_converted"] = frame["is_mailed"] & (rng.random(n) < 0.2)
    with pytest.raises(CannotTrain, match="held-out arm has [0-9] conversions"):
        uplift.train(frame)
    with pytest.raises(CannotTrain, match="no campaign with both a mailed group and a holdout"):
        uplift.train(frame.iloc[:0])
