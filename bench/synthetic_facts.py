"""Warehouse-shaped facts for N customers, drawn directly in memory for the ML benchmark.

The demo generator writes landing files with every kind of dirt, which at a million customers
would take longer and more memory than the models themselves. The models only read the marts'
facts, so this draws those directly, with the demo's shapes: BG/NBD purchase histories with
Gamma-Gamma order values, category affinities with Zipf popularity, about 9 email events and 28
web events per person, and 40% more visitors who never buy.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

CATEGORIES = ("apparel", "shoes", "beauty", "home", "electronics", "outdoor", "kids", "accessories")
PER_CATEGORY = 25
HISTORY_DAYS = 730


def _times(start: pd.Timestamp, days: np.ndarray) -> pd.Series:
    return pd.Series(start + pd.to_timedelta(days, unit="D"))


def products() -> pd.DataFrame:
    rows = [
        {"product_id": f"SKU-{c + 1}{i + 1:03d}", "category": category}
        for c, category in enumerate(CATEGORIES)
        for i in range(PER_CATEGORY)
    ]
    return pd.DataFrame(rows)


def _draw_products(rng, category: np.ndarray) -> np.ndarray:
    popularity = 1.0 / np.arange(1, PER_CATEGORY + 1) ** 1.1
    rank = rng.choice(PER_CATEGORY, size=len(category), p=popularity / popularity.sum())
    return category * PER_CATEGORY + rank


def facts(customers: int, seed: int = 42, as_of: str = "2026-11-01") -> dict:
    rng = np.random.default_rng(seed)
    end = pd.Timestamp(as_of)
    start = end - pd.Timedelta(days=HISTORY_DAYS)
    n = int(customers * 1.4)
    ids = pd.array([f"P{i:08d}" for i in range(n)], dtype="str")
    first_seen_day = rng.uniform(0, HISTORY_DAYS, n)
    favourite = rng.integers(len(CATEGORIES), size=n)
    is_buyer = (np.arange(n) < customers) & (rng.random(n) < 0.7)

    # Orders: a first purchase soon after arrival, then BG/NBD repeat purchases.
    buyers = np.flatnonzero(is_buyer)
    lam = rng.gamma(0.6, 1 / 45, size=len(buyers))
    drop = rng.beta(0.9, 3.5, size=len(buyers))
    nu = rng.gamma(3.5, 1 / 25, size=len(buyers))
    clock = first_seen_day[buyers] + rng.exponential(5.0, size=len(buyers))
    who, when = [], []
    active = np.flatnonzero(clock < HISTORY_DAYS)
    who.append(active)
    when.append(clock[active].copy())
    while len(active):
        clock[active] += rng.exponential(1 / lam[active])
        active = active[clock[active] < HISTORY_DAYS]
        who.append(active)
        when.append(clock[active].copy())
        active = active[rng.random(len(active)) >= drop[active]]
    buyer_idx = np.concatenate(who)
    order_day = np.concatenate(when)
    person_idx = buyers[buyer_idx]
    amount = rng.gamma(6.0, 1 / nu[buyer_idx])
    orders = pd.DataFrame(
        {
            "person_id": ids[person_idx],
            "ordered_at": _times(start, order_day),
            "total_amount_eur": np.round(amount, 2),
        }
    )
    lines = 1 + rng.binomial(3, 0.25, size=len(orders))
    line_order = np.repeat(np.arange(len(orders)), lines)
    line_person = person_idx[line_order]
    own_taste = rng.random(len(line_order)) < 0.6
    category = np.where(
        own_taste, favourite[line_person], rng.integers(len(CATEGORIES), size=len(line_order))
    )
    catalogue = products()
    product = _draw_products(rng, category)
    order_items = pd.DataFrame(
        {
            "person_id": ids[line_person],
            "product_id": catalogue["product_id"].to_numpy()[product],
            "category": catalogue["category"].to_numpy()[product],
            "quantity": 1 + rng.binomial(2, 0.15, size=len(line_order)),
            "ordered_at": orders["ordered_at"].to_numpy()[line_order],
        }
    )

    # Email: the last year's campaigns to known customers; opens and clicks by engagement.
    engagement = rng.beta(2.0, 2.5, size=n)
    sends = rng.poisson(4, size=customers)
    sent_person = np.repeat(np.arange(customers), sends)
    sent_day = rng.uniform(HISTORY_DAYS - 364, HISTORY_DAYS, len(sent_person))
    opened = rng.random(len(sent_person)) < engagement[sent_person]
    clicked = opened & (rng.random(len(sent_person)) < 0.35)
    email_person = np.concatenate([sent_person, sent_person[opened], sent_person[clicked]])
    email_day = np.concatenate([sent_day, sent_day[opened] + 0.1, sent_day[clicked] + 0.11]).clip(
        max=HISTORY_DAYS - 1e-6
    )
    email_events = pd.DataFrame(
        {
            "person_id": ids[email_person],
            "event_type": np.repeat(
                ["sent", "open", "click"], [len(sent_person), opened.sum(), clicked.sum()]
            ),
            "occurred_at": _times(start, email_day),
        }
    )

    # Web: sessions after arrival, each a few product views and sometimes a cart add.
    sessions = rng.poisson(6, size=n)
    session_person = np.repeat(np.arange(n), sessions)
    session_day = first_seen_day[session_person] + rng.uniform(0, 1, len(session_person)) * (
        HISTORY_DAYS - first_seen_day[session_person]
    )
    events_per_session = 2 + rng.poisson(2.5, size=len(session_person))
    event_session = np.repeat(np.arange(len(session_person)), events_per_session)
    event_person = session_person[event_session]
    kind = np.where(
        rng.random(len(event_session)) < 0.12,
        "add_to_cart",
        np.where(rng.random(len(event_session)) < 0.7, "product_view", "page_view"),
    )
    viewed_category = np.where(
        rng.random(len(event_session)) < 0.6,
        favourite[event_person],
        rng.integers(len(CATEGORIES), size=len(event_session)),
    )
    viewed = _draw_products(rng, viewed_category)
    web_events = pd.DataFrame(
        {
            "person_id": ids[event_person],
            "event_type": kind,
            "session_id": event_session,
            "product_id": np.where(
                kind == "page_view", None, catalogue["product_id"].to_numpy()[viewed]
            ),
            "occurred_at": _times(
                start,
                (session_day[event_session] + rng.uniform(0, 0.02, len(event_session))).clip(
                    max=HISTORY_DAYS - 1e-6
                ),
            ),
        }
    )
    first_seen = pd.Series(
        _times(start, first_seen_day).to_numpy(), index=pd.Index(ids, name="person_id")
    )
    people = pd.DataFrame(
        {
            "person_id": ids,
            "favourite_category": np.where(is_buyer, np.array(CATEGORIES)[favourite], None),
        }
    )
    return {
        "as_of": end,
        "orders": orders,
        "order_items": order_items,
        "email_events": email_events,
        "web_events": web_events,
        "first_seen": first_seen,
        "products": catalogue,
        "people": people,
    }
