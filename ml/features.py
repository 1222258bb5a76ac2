"""Point-in-time customer features and labels.

`build_features` sees only what happened strictly before the cutoff, so the same function
serves training (cutoff in the past, label from the window after it) and scoring (cutoff =
as-of date). Inputs are the warehouse facts as DataFrames.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

FEATURE_COLUMNS = [
    "has_ordered",
    "days_since_last_order",
    "days_since_first_order",
    "order_count",
    "orders_90d",
    "orders_365d",
    "revenue_eur",
    "avg_order_value_eur",
    "emails_sent_90d",
    "emails_opened_90d",
    "emails_clicked_90d",
    "open_rate_90d",
    "days_since_last_engagement",
    "product_views_30d",
    "cart_adds_30d",
    "sessions_30d",
    "days_since_last_visit",
]
NEVER_DAYS = 9_999.0


def _days(cutoff: pd.Timestamp, moments: pd.Series) -> pd.Series:
    return (cutoff - moments).dt.total_seconds() / 86_400


def build_features(
    people: pd.Series,
    orders: pd.DataFrame,
    email_events: pd.DataFrame,
    web_events: pd.DataFrame,
    cutoff: pd.Timestamp,
) -> pd.DataFrame:
    """One row per person in `people`, indexed by person_id, from data before `cutoff`.

    orders: person_id, ordered_at, total_amount_eur
    email_events: person_id, event_type, occurred_at
    web_events: person_id, event_type, session_id, occurred_at
    """
    cutoff = pd.Timestamp(cutoff)
    index = pd.Index(pd.unique(people), name="person_id")
    out = pd.DataFrame(index=index)

    past_orders = orders[orders["ordered_at"] < cutoff]
    by_person = past_orders.groupby("person_id")
    out["order_count"] = by_person.size()
    out["revenue_eur"] = by_person["total_amount_eur"].sum().astype(float)
    out["days_since_last_order"] = _days(cutoff, by_person["ordered_at"].max())
    out["days_since_first_order"] = _days(cutoff, by_person["ordered_at"].min())
    for days in (90, 365):
        recent = past_orders[past_orders["ordered_at"] >= cutoff - pd.Timedelta(days=days)]
        out[f"orders_{days}d"] = recent.groupby("person_id").size()

    past_email = email_events[
        (email_events["occurred_at"] < cutoff)
        & (email_events["occurred_at"] >= cutoff - pd.Timedelta(days=90))
    ]
    counts = past_email.groupby(["person_id", "event_type"]).size().unstack(fill_value=0)
    for event, name in (
        ("sent", "emails_sent_90d"),
        ("open", "emails_opened_90d"),
        ("click", "emails_clicked_90d"),
    ):
        out[name] = counts.get(event, 0)
    engaged = email_events[
        (email_events["occurred_at"] < cutoff) & email_events["event_type"].isin(["open", "click"])
    ]
    out["days_since_last_engagement"] = _days(
        cutoff, engaged.groupby("person_id")["occurred_at"].max()
    )

    past_web = web_events[web_events["occurred_at"] < cutoff]
    recent_web = past_web[past_web["occurred_at"] >= cutoff - pd.Timedelta(days=30)]
    web_counts = recent_web.groupby(["person_id", "event_type"]).size().unstack(fill_value=0)
    out["product_views_30d"] = web_counts.get("product_view", 0)
    out["cart_adds_30d"] = web_counts.get("add_to_cart", 0)
    out["sessions_30d"] = recent_web.groupby("person_id")["session_id"].nunique()
    out["days_since_last_visit"] = _days(cutoff, past_web.groupby("person_id")["occurred_at"].max())

    counts_columns = [
        "order_count",
        "orders_90d",
        "orders_365d",
        "revenue_eur",
        "emails_sent_90d",
        "emails_opened_90d",
        "emails_clicked_90d",
        "product_views_30d",
        "cart_adds_30d",
        "sessions_30d",
    ]
    out[counts_columns] = out[counts_columns].fillna(0)
    days_columns = [
        "days_since_last_order",
        "days_since_first_order",
        "days_since_last_engagement",
        "days_since_last_visit",
    ]
    out[days_columns] = out[days_columns].fillna(NEVER_DAYS)
    out["has_ordered"] = (out["order_count"] > 0).astype(float)
    out["avg_order_value_eur"] = np.where(
        out["order_count"] > 0, out["revenue_eur"] / out["order_count"].clip(lower=1), 0.0
    )
    out["open_rate_90d"] = np.where(
        out["emails_sent_90d"] > 0,
        out["emails_opened_90d"] / out["emails_sent_90d"].clip(lower=1),
        0.0,
    )
    return out[FEATURE_COLUMNS].astype(float)


def orders_in_window(orders: pd.DataFrame, cutoff, horizon_days: int) -> pd.DataFrame:
    """Orders in [cutoff, cutoff + horizon): where labels come from."""
    cutoff = pd.Timestamp(cutoff)
    return orders[
        (orders["ordered_at"] >= cutoff)
        & (orders["ordered_at"] < cutoff + pd.Timedelta(days=horizon_days))
    ]


def population(first_seen: pd.Series, cutoff: pd.Timestamp) -> pd.Index:
    """People known at the cutoff: first_seen is indexed by person_id."""
    return pd.Index(first_seen[first_seen <= pd.Timestamp(cutoff)].index, name="person_id")


class FeatureCache:
    """Features per cutoff for everyone known at it, computed once: the classifiers, the
    personas and scoring ask for the same few cutoffs."""

    def __init__(self, facts: dict[str, pd.DataFrame], first_seen: pd.Series):
        self.orders = facts["orders"]
        self.email_events = facts.get("email_events")
        self.web_events = facts.get("web_events")
        self.first_seen = first_seen
        self._by_cutoff: dict[pd.Timestamp, pd.DataFrame] = {}

    @classmethod
    def precomputed(cls, features: pd.DataFrame, orders: pd.DataFrame) -> FeatureCache:
        """From a long frame (person_id, cutoff_at, features) such as `long_frame` wrote:
        labels still need the orders."""
        cache = cls({"orders": orders}, pd.Series(dtype="datetime64[us]"))
        for cutoff, frame in features.groupby("cutoff_at"):
            cache._by_cutoff[pd.Timestamp(cutoff)] = frame.set_index("person_id")[
                FEATURE_COLUMNS
            ].astype(float)
        return cache

    def long_frame(self, cutoffs) -> pd.DataFrame:
        """Features at every cutoff in one frame, one row per person and cutoff."""
        return pd.concat(
            [
                self.at(cutoff).reset_index().assign(cutoff_at=pd.Timestamp(cutoff))
                for cutoff in cutoffs
            ],
            ignore_index=True,
        )[["person_id", "cutoff_at", *FEATURE_COLUMNS]]

    def at(self, cutoff) -> pd.DataFrame:
        cutoff = pd.Timestamp(cutoff)
        if cutoff not in self._by_cutoff:
            if self.web_events is None:
                raise KeyError(f"no features precomputed at {cutoff}")
            people = population(self.first_seen, cutoff)
            self._by_cutoff[cutoff] = build_features(
                people.to_series(), self.orders, self.email_events, self.web_events, cutoff
            )
        return self._by_cutoff[cutoff]
