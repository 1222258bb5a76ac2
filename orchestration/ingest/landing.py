"""The landing contract: which files each source drops, their columns, types and required fields.

The loader accepts exactly this, and `docs/landing_contract.md` documents it for users who
drop in their own exports. A column's type decides how the loader parses it; a value that
does not parse sends the whole row to quarantine with the file, line and field named.
"""

from __future__ import annotations

import csv
from dataclasses import dataclass, field

# A well-formed address, lower-cased: what the loader quarantines and the send gate checks.
# dbt's is_valid_email macro holds the same pattern for the warehouse side.
EMAIL_PATTERN = r"^[a-z0-9._%+-]+@[a-z0-9-]+(?:\.[a-z0-9-]+)*\.[a-z]{2,}$"

# Types the loader understands. Timestamps are ISO 8601 with a `Z`, an offset, or none
# (then UTC); they are stored as naive UTC.
COLUMN_TYPES = ("string", "timestamp", "date", "decimal", "integer", "boolean")


@dataclass(frozen=True)
class Column:
    name: str
    type: str = "string"
    required: bool = False
    allowed: tuple[str, ...] | None = None
    description: str = ""
    # "email": a malformed address sends the row to quarantine. Where an invalid email should
    # not cost the record (a CRM customer, an order), leave it unset; staging flags it.
    format: str | None = None
    # "<seed>.<column>" each: the value (trimmed, case-insensitive) must be in one of these
    # columns of the dbt seeds, the one place the project lists it (a currency needs a rate
    # to be converted; a country is a code, or a name staging maps to one).
    references: tuple[str, ...] = ()

    def __post_init__(self) -> None:
        if self.type not in COLUMN_TYPES:
            raise ValueError(f"column {self.name}: unknown type {self.type!r}")


@dataclass(frozen=True)
class LandingTable:
    """One raw table and the landing files that feed it."""

    name: str
    source: str
    pattern: str
    format: str
    description: str
    columns: tuple[Column, ...]
    key: tuple[str, ...] = field(default_factory=tuple)

    @property
    def column_names(self) -> list[str]:
        return [c.name for c in self.columns]

    @property
    def required_columns(self) -> list[str]:
        return [c.name for c in self.columns if c.required]


WEB_EVENT_TYPES = (
    "page_view",
    "product_view",
    "search",
    "add_to_cart",
    "remove_from_cart",
    "checkout_started",
    "login",
    "identify",
)
# "holdout": a campaign's control group member, not mailed (the ESP's control-group export).
ESP_EVENT_TYPES = (
    "sent",
    "holdout",
    "delivered",
    "open",
    "click",
    "bounce",
    "complaint",
    "unsubscribe",
)
LOYALTY_TIERS = ("bronze", "silver", "gold", "platinum")
# A country as exports write it: the code, the seed's English name, or a known alias.
COUNTRY_REFERENCES = (
    "countries.country_code",
    "countries.country_name",
    "country_aliases.alias",
)

LANDING_TABLES: tuple[LandingTable, ...] = (
    LandingTable(
        name="crm_customers",
        source="crm",
        pattern="customers*.csv",
        format="csv",
        description="CRM customer export: one row per customer account.",
        key=("customer_id",),
        columns=(
            Column("customer_id", required=True, description="CRM account id."),
            Column("email", description="Email as typed; normalized downstream."),
            Column("first_name"),
            Column("last_name"),
            Column("phone", description="Any national or international format."),
            Column("city"),
            Column("postcode", description="Postal code as typed; used to match duplicates."),
            Column(
                "country",
                description="ISO 3166-1 alpha-2 code, or a name in countries or country_aliases.",
                references=COUNTRY_REFERENCES,
            ),
            Column("birth_date", "date"),
            Column("signup_at", "timestamp", required=True),
            Column("loyalty_tier", allowed=LOYALTY_TIERS),
            Column("marketing_consent", "boolean", description="true/false, yes/no or 1/0."),
            Column("consent_updated_at", "timestamp"),
        ),
    ),
    LandingTable(
        name="web_events",
        source="web",
        pattern="events*.jsonl",
        format="jsonl",
        description="Web tracker events, one JSON object per line.",
        key=("event_id",),
        columns=(
            Column("event_id", required=True),
            Column("event_type", required=True, allowed=WEB_EVENT_TYPES),
            Column("anonymous_id", required=True, description="Browser cookie id."),
            Column("customer_id", description="Set on login and while logged in."),
            Column("email", description="Set on identify events (e.g. typed at checkout)."),
            Column("session_id"),
            Column("occurred_at", "timestamp", required=True),
            Column("received_at", "timestamp", description="When the tracker received it."),
            Column("page_url"),
            Column("product_id"),
            Column("search_query"),
            Column("quantity", "integer"),
        ),
    ),
    LandingTable(
        name="shop_orders",
        source="shop",
        pattern="orders*.csv",
        format="csv",
        description="Shop orders; guest checkouts carry an email and no customer_id.",
        key=("order_id",),
        columns=(
            Column("order_id", required=True),
            Column("customer_id"),
            Column("email"),
            Column("ordered_at", "timestamp", required=True),
            Column("total_amount", "decimal", required=True),
            Column(
                "currency",
                description="ISO 4217; EUR when empty; one with a rate in currency_rates.",
                references=("currency_rates.currency",),
            ),
            Column(
                "shipping_country",
                description="ISO 3166-1 alpha-2 code, or a name in countries or country_aliases.",
                references=COUNTRY_REFERENCES,
            ),
        ),
    ),
    LandingTable(
        name="shop_order_items",
        source="shop",
        pattern="order_items*.csv",
        format="csv",
        description="Order lines.",
        key=("order_id", "line_number"),
        columns=(
            Column("order_id", required=True),
            Column("line_number", "integer", required=True),
            Column("product_id", required=True),
            Column("quantity", "integer", required=True),
            Column("unit_price", "decimal", required=True),
        ),
    ),
    LandingTable(
        name="shop_products",
        source="shop",
        pattern="products*.csv",
        format="csv",
        description="Product catalog.",
        key=("product_id",),
        columns=(
            Column("product_id", required=True),
            Column("product_name", required=True),
            Column("category", required=True),
            Column("price", "decimal", required=True),
            Column("currency"),
            Column("product_url"),
            Column("image_url"),
        ),
    ),
    LandingTable(
        name="esp_email_events",
        source="esp",
        pattern="email_events*.csv",
        format="csv",
        description="Email service events for past campaigns.",
        key=("event_id",),
        columns=(
            Column("event_id", required=True),
            Column("campaign_id", required=True),
            Column("email", required=True, format="email", description="Recipient address."),
            Column("event_type", required=True, allowed=ESP_EVENT_TYPES),
            Column("variant", description="A/B variant of the send, or holdout; empty when none."),
            Column("occurred_at", "timestamp", required=True),
            Column("bounce_type", allowed=("hard", "soft")),
            Column("link_url"),
        ),
    ),
)


def landing_table(name: str) -> LandingTable:
    for table in LANDING_TABLES:
        if table.name == name:
            return table
    raise KeyError(name)


def reference_values(references: tuple[str, ...], seeds_dir) -> frozenset[str]:
    """The upper-cased values of each `<seed>.<column>` in the dbt seeds folder."""
    values: set[str] = set()
    for reference in references:
        seed, column = reference.split(".")
        with open(seeds_dir / f"{seed}.csv", newline="", encoding="utf-8") as fh:
            values.update(row[column].strip().upper() for row in csv.DictReader(fh))
    values.discard("")
    return frozenset(values)
