"""How a person is identified across the raw tables, and the salted hashes that stand in for
the identifiers of erased people.

The salt comes from MAILPIPE_PRIVACY_SALT, or is generated once into the data folder,
readable by its owner only: without it the hashes cannot be tested against a guessed address.
"""

from __future__ import annotations

import hashlib
import os
import re
import secrets

from orchestration import settings

# Which columns of each raw table identify a person, and as what kind of identifier.
RAW_IDENTIFIERS = {
    "crm_customers": (("customer_id", "crm_customer_id"), ("email", "email")),
    "web_events": (
        ("anonymous_id", "anonymous_id"),
        ("customer_id", "crm_customer_id"),
        ("email", "email"),
    ),
    "shop_orders": (
        ("order_id", "order_id"),
        ("customer_id", "crm_customer_id"),
        ("email", "email"),
    ),
    "shop_order_items": (("order_id", "order_id"),),
    "esp_email_events": (("email", "email"),),
}
# identity_links.source_table -> the identifier kind of its record_id
RECORD_KINDS = {
    "crm_customers": "crm_customer_id",
    "web_events": "anonymous_id",
    "shop_orders": "order_id",
    "esp_email_events": "email",
}
# Columns that hold a person's identifiers in derived tables, besides person_id.
DERIVED_IDENTIFIER_COLUMNS = (
    "email",
    "recipient",
    "record_id",
    "customer_id",
    "anonymous_id",
    "order_id",
)
TOKEN = re.compile(r"[^\s,;\"'{}\[\]()<>|=&?]+")


def normalize(value: str) -> str:
    return str(value).strip().lower()


def salt() -> str:
    value = settings.privacy_salt()
    if value:
        return value
    path = settings.data_dir() / ".privacy_salt"
    if not path.exists():
        path.parent.mkdir(parents=True, exist_ok=True)
        descriptor = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        with os.fdopen(descriptor, "w") as fh:
            fh.write(secrets.token_hex(32))
    return path.read_text().strip()


def hash_identifier(kind: str, value: str, salt_value: str | None = None) -> str:
    """The same hash as `sql_hash`: sha256 of salt:kind:normalized value."""
    text = f"{salt_value if salt_value is not None else salt()}:{kind}:{normalize(value)}"
    return hashlib.sha256(text.encode("utf-8")).hexdigest()


def sql_hash(kind: str, column: str) -> str:
    """SQL for the salted hash of `column` as an identifier of `kind`; binds the salt as ?."""
    return f"sha256(? || ':{kind}:' || lower(trim(cast({column} as varchar))))"
