"""What the loader consults so that an erased person's rows are not imported again."""

from __future__ import annotations

import duckdb
import pandas as pd

from orchestration.privacy.identifiers import (
    RAW_IDENTIFIERS,
    TOKEN,
    hash_identifier,
    normalize,
    salt,
    sql_hash,
)
from orchestration.privacy.privacy_tables import SCHEMA
from orchestration.warehouse import table_exists


def has_erasures(conn: duckdb.DuckDBPyConnection) -> bool:
    # Checked in the catalog: a failed query would abort the loader's open transaction.
    if not table_exists(conn, SCHEMA, "erased_identifiers"):
        return False
    return conn.execute(f"select count(*) from {SCHEMA}.erased_identifiers").fetchall()[0][0] > 0


def erased_condition(table: str) -> tuple[str, int]:
    """A SQL condition true for a row of raw `table` that belongs to an erased person, and how
    many salt parameters it binds."""
    parts = [
        f"{sql_hash(kind, column)} in (select identifier_hash from {SCHEMA}.erased_identifiers"
        f" where identifier_type = '{kind}')"
        for column, kind in RAW_IDENTIFIERS.get(table, ())
    ]
    return ("(" + " or ".join(parts) + ")" if parts else "false"), len(parts)


def split_erased(
    conn: duckdb.DuckDBPyConnection, table: str, frame: pd.DataFrame
) -> tuple[pd.DataFrame, int]:
    """Drop incoming rows of erased people; returns the rest and how many were dropped."""
    if frame.empty or table not in RAW_IDENTIFIERS or not has_erasures(conn):
        return frame, 0
    condition, n = erased_condition(table)
    conn.register("_incoming_privacy", frame.reset_index(drop=True))
    try:
        erased = (
            conn.execute(
                f"select coalesce({condition}, false) as erased from _incoming_privacy",
                [salt()] * n,
            )
            .df()["erased"]
            .to_numpy()
        )
    finally:
        conn.unregister("_incoming_privacy")
    return frame[~erased], int(erased.sum())


def erased_hashes(conn: duckdb.DuckDBPyConnection) -> dict[str, set[str]]:
    rows = conn.execute(
        f"select identifier_type, identifier_hash from {SCHEMA}.erased_identifiers"
    ).fetchall()
    out: dict[str, set[str]] = {}
    for kind, digest in rows:
        out.setdefault(kind, set()).add(digest)
    return out


def mentions_erased(raw_text: str, hashes: dict[str, set[str]], salt_value: str) -> bool:
    """Whether a raw line we could not parse names an erased identifier anywhere in it."""
    for token in TOKEN.findall(normalize(raw_text)):
        for kind, digests in hashes.items():
            if hash_identifier(kind, token, salt_value) in digests:
                return True
    return False


def drop_erased_rejects(
    conn: duckdb.DuckDBPyConnection, rejected: pd.DataFrame
) -> tuple[pd.DataFrame, int]:
    """Rejected rows are kept with their raw text, so an erased person's must not be."""
    if rejected.empty or not has_erasures(conn):
        return rejected, 0
    hashes, salt_value = erased_hashes(conn), salt()
    hit = rejected["_raw"].astype(str).map(lambda raw: mentions_erased(raw, hashes, salt_value))
    return rejected[~hit.to_numpy()], int(hit.sum())
