"""Every person gets every score there is a model for, and a reason where there is none."""

import numpy as np
import pandas as pd

from ml import classifiers, scoring
from ml.features import FEATURE_COLUMNS, FeatureCache

AS_OF = pd.Timestamp("2026-06-30")


class Constant:
    def predict_proba(self, x):
        return np.column_stack([np.full(len(x), 0.7), np.full(len(x), 0.3)])


def _features(n=4):
    frame = pd.DataFrame(1.0, index=range(n), columns=FEATURE_COLUMNS)
    frame["person_id"] = [f"p{i}" for i in range(n)]
    frame["cutoff_at"] = AS_OF
    orders = pd.DataFrame(
        {
            "person_id": ["p0"],
            "ordered_at": [AS_OF - pd.Timedelta(days=9)],
            "total_amount_eur": [9.0],
        }
    )
    return FeatureCache(frame, orders), orders


def test_the_first_score_is_filled_by_its_champion_and_a_missing_one_says_why():
    features, orders = _features()
    champions = {
        classifiers.PURCHASE.name: (Constant(), "3"),
        classifiers.CHURN.name: (None, None),
    }
    personas = pd.DataFrame({"person_id": ["p0"], "persona": ["loyal"]})
    scores = scoring.score_everyone(
        features, orders, AS_OF, champions, None, personas, skipped={"churn_risk": "one class"}
    )
    assert scores["purchase_propensity"].tolist() == [0.3] * 4
    assert scores["purchase_propensity_missing_reason"].isna().all()
    assert scores["churn_probability"].isna().all()
    assert set(scores["churn_probability_missing_reason"]) == {"no churn_risk model: one class"}
    assert scores["clv_eur"].isna().all() and scores["clv_missing_reason"].notna().all()
