"""Small landing files written the way a user's exports look, for tests of data nobody here
generated: every helper writes one file of the landing contract (docs/landing_contract.md)."""

from __future__ import annotations

import csv
import json
from datetime import datetime, timedelta
from pathlib import Path

import numpy as np

CRM_COLUMNS = [
    "customer_id",
    "email",
    "first_name",
    "last_name",
    "phone",
    "city",
    "country",
    "birth_date",
    "signup_at",
    "loyalty_tier",
    "marketing_consent",
    "consent_updated_at",
]
ORDER_COLUMNS = ["order_id", "customer_id", "email", "ordered_at", "total_amount", "currency"]
ITEM_COLUMNS = ["order_id", "line_number", "product_id", "quantity", "unit_price"]
PRODUCT_COLUMNS = ["product_id", "product_name", "category", "price", "currency", "product_url"]
ESP_COLUMNS = ["event_id", "campaign_id", "email", "event_type", "variant", "occurred_at"]
END = datetime(2026, 6, 30, 12, 0)
# Distinct people: the identity rules would rightly merge look-alike records.
FIRST = ["Anna", "Ben", "Chiara", "Dmitri", "Elif", "Farid", "Greta", "Hugo", "Ines", "Jonas"]
LAST = ["Keller", "Lopez", "Moreau", "Nowak", "Okafor", "Petrov", "Quinn", "Rossi", "Svensson"]
CITIES = ["Berlin", "Hamburg", "Munich", "Cologne", "Leipzig", "Dresden", "Bremen"]


def _csv(path: Path, columns: list[str], rows: list[dict]) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    with path.open("w", newline="", encoding="utf-8") as fh:
        writer = csv.DictWriter(fh, columns, extrasaction="raise")
        writer.writeheader()
        writer.writerows({c: row.get(c, "") for c in columns} for row in rows)


def stamp(moment: datetime) -> str:
    return moment.strftime("%Y-%m-%dT%H:%M:%SZ")


def customers(
    landing: Path, n: int, consent: bool = True, signed_up_days_ago: int = 400
) -> list[dict]:
    """n CRM customers; the newest signed up a day before END (for the welcome journey)."""
    rows = [
        {
            "customer_id": f"C{i:04d}",
            "email": f"person{i}@example.com",
            "first_name": FIRST[i % len(FIRST)],
            "last_name": f"{LAST[i // len(FIRST) % len(LAST)]}-{i}",
            "city": CITIES[i % len(CITIES)],
            "country": "DE",
            "birth_date": f"{1950 + i % 50}-{1 + i % 12:02d}-{1 + i % 28:02d}",
            "signup_at": stamp(END - timedelta(days=max(1, signed_up_days_ago - 13 * i))),
            "loyalty_tier": "bronze",
            "marketing_consent": "true" if consent else "false",
            "consent_updated_at": stamp(END - timedelta(days=signed_up_days_ago)),
        }
        for i in range(n)
    ]
    _csv(landing / "crm" / "customers_1.csv", CRM_COLUMNS, rows)
    return rows


def products(landing: Path, n: int = 5) -> list[str]:
    rows = [
        {
            "product_id": f"P{i}",
            "product_name": f"Product {i}",
            "category": "home" if i % 2 else "apparel",
            "price": "19.90",
            "currency": "EUR",
            "product_url": f"https://shop.example.com/p/{i}",
        }
        for i in range(n)
    ]
    _csv(landing / "shop" / "products_1.csv", PRODUCT_COLUMNS, rows)
    return [r["product_id"] for r in rows]


def orders(landing: Path, rows: list[dict]) -> None:
    """rows: customer_id, ordered_at (datetime), total_amount, and optionally currency and
    product_id (one line per order, of that product)."""
    out, items = [], []
    for n, row in enumerate(rows):
        order_id = f"O{n:05d}"
        out.append(
            {
                "order_id": order_id,
                "customer_id": row["customer_id"],
                "ordered_at": stamp(row["ordered_at"]),
                "total_amount": f"{row['total_amount']:.2f}",
                "currency": row.get("currency", "EUR"),
            }
        )
        if row.get("product_id"):
            items.append(
                {
                    "order_id": order_id,
                    "line_number": 1,
                    "product_id": row["product_id"],
                    "quantity": 1,
                    "unit_price": f"{abs(row['total_amount']):.2f}",
                }
            )
    _csv(landing / "shop" / "orders_1.csv", ORDER_COLUMNS, out)
    _csv(landing / "shop" / "order_items_1.csv", ITEM_COLUMNS, items)


def repeat_orders(
    people: list[dict], product_ids: list[str], per_person: int, spacing_days: int = 45
) -> list[dict]:
    """Exactly per_person orders each, spacing_days apart, the last a few days before END."""
    rows = []
    for i, person in enumerate(people):
        for k in range(per_person):
            rows.append(
                {
                    "customer_id": person["customer_id"],
                    "ordered_at": END - timedelta(days=3 + i % 20 + spacing_days * k, hours=i),
                    "total_amount": 20.0 + (i * 7 + k * 3) % 60,
                    "product_id": product_ids[(i + k) % len(product_ids)],
                }
            )
    return rows


def order_history(people: list[dict], product_ids: list[str], seed: int = 1) -> list[dict]:
    """Two years of orders as a shop has them: each person buys at a rate of their own
    until they stop, some never again after the first order."""
    rng = np.random.default_rng(seed)
    rows = []
    for person in people:
        rate = rng.gamma(1.5, 1 / 40)  # orders a day
        clock = rng.uniform(0, 700)
        stop = clock + rng.exponential(300)
        while clock < min(stop, 729):
            rows.append(
                {
                    "customer_id": person["customer_id"],
                    "ordered_at": END - timedelta(days=730 - clock),
                    "total_amount": round(float(rng.gamma(4, 12)), 2),
                    "product_id": product_ids[int(rng.integers(len(product_ids)))],
                }
            )
            clock += rng.exponential(1 / rate)
    return rows


def email_events(landing: Path, rows: list[dict]) -> None:
    for n, row in enumerate(rows):
        row.setdefault("event_id", f"E{n:06d}")
        row["occurred_at"] = stamp(row["occurred_at"])
    _csv(landing / "esp" / "email_events_1.csv", ESP_COLUMNS, rows)


def web_events(landing: Path, rows: list[dict]) -> None:
    path = landing / "web" / "events_1.jsonl"
    path.parent.mkdir(parents=True, exist_ok=True)
    with path.open("w", encoding="utf-8") as fh:
        for n, row in enumerate(rows):
            event = {"event_id": f"W{n:06d}", **row, "occurred_at": stamp(row["occurred_at"])}
            fh.write(json.dumps(event) + "\n")
