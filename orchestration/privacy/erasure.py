"""The right to erasure: remove a person everywhere, keeping only salted hashes of their
identifiers (in `privacy.erased_identifiers`, which the loader consults, and for emails in
`privacy.suppression_list`, which every send consults), and log it without personal data."""

from __future__ import annotations

import json
import uuid
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path

import duckdb
import pandas as pd

from email_render import export
from orchestration.privacy.identifiers import (
    DERIVED_IDENTIFIER_COLUMNS,
    RAW_IDENTIFIERS,
    RECORD_KINDS,
    TOKEN,
    hash_identifier,
    normalize,
    salt,
)
from orchestration.privacy.landing_mentions import landing_mentions
from orchestration.privacy.load_filter import erased_condition
from orchestration.privacy.privacy_tables import SCHEMA, delete_counted, ensure_tables
from orchestration.warehouse import table_exists


@dataclass
class ErasureReport:
    erasure_id: str
    people_erased: int
    identifiers_hashed: int
    rows_removed: dict[str, int] = field(default_factory=dict)
    export_files_changed: int = 0
    # The sources' own exports that still name them (see landing_mentions): for the operator.
    landing_files: list[dict] = field(default_factory=list)

    def summary(self) -> str:
        removed = sum(self.rows_removed.values())
        return (
            f"erasure {self.erasure_id}: {self.people_erased} person(s), "
            f"{self.identifiers_hashed} identifiers kept as salted hashes, {removed:,} rows removed "
            f"from {len(self.rows_removed)} tables, {self.export_files_changed} export files changed"
            + (
                f"; {len(self.landing_files)} landing files still name them: "
                + ", ".join(f["file"] for f in self.landing_files)
                if self.landing_files
                else ""
            )
        )


def find_person(conn, email: str) -> tuple[set[str], dict[str, set[str]]]:
    """The people behind an email, and every identifier of theirs, by kind (plain text)."""
    identifiers: dict[str, set[str]] = {kind: set() for kind in set(RECORD_KINDS.values())}
    identifiers["email"].add(email)
    seeds: set[tuple[str, str]] = {("esp_email_events", email)}
    for table, column in (
        ("crm_customers", "customer_id"),
        ("shop_orders", "order_id"),
        ("web_events", "anonymous_id"),
    ):
        if table_exists(conn, "raw", table):
            for (record_id,) in conn.execute(
                f"select distinct {column} from raw.{table} where lower(trim(email)) = ?", [email]
            ).fetchall():
                seeds.add((table, str(record_id)))
    people: set[str] = set()
    if table_exists(conn, "marts", "identity_links"):
        conn.register("_seeds", pd.DataFrame(sorted(seeds), columns=["source_table", "record_id"]))
        people = {
            row[0]
            for row in conn.execute(
                "select distinct l.person_id from marts.identity_links l"
                " join _seeds s using (source_table, record_id)"
            ).fetchall()
        }
        conn.unregister("_seeds")
        if people:
            records = conn.execute(
                "select source_table, record_id from marts.identity_links"
                f" where person_id in ({', '.join('?' * len(people))})",
                sorted(people),
            ).fetchall()
            seeds |= {(t, str(r)) for t, r in records}
    for table, record_id in seeds:
        identifiers[RECORD_KINDS[table]].add(normalize(record_id))
    # Emails typed on the person's own records link them too.
    for table, column, kind in (
        ("crm_customers", "customer_id", "crm_customer_id"),
        ("shop_orders", "order_id", "order_id"),
        ("web_events", "anonymous_id", "anonymous_id"),
    ):
        values = sorted(identifiers[kind])
        if values and table_exists(conn, "raw", table):
            rows = conn.execute(
                f"select distinct lower(trim(email)) from raw.{table}"
                f" where email is not null and lower(trim({column})) in ({', '.join('?' * len(values))})",
                values,
            ).fetchall()
            identifiers["email"] |= {r[0] for r in rows if r[0]}
    return people, identifiers


def _derived_tables(conn) -> list[tuple[str, str, list[str]]]:
    rows = conn.execute(
        """
        select c.table_schema, c.table_name, list(c.column_name)
        from information_schema.columns as c
        join information_schema.tables as t
            on c.table_schema = t.table_schema and c.table_name = t.table_name
        where t.table_type = 'BASE TABLE' and c.table_schema not in ('raw', 'privacy')
        group by all order by all
        """
    ).fetchall()
    return [(s, t, cols) for s, t, cols in rows]


def _in(values) -> str:
    return ", ".join("?" * len(values))


def held_rows(conn, people: set[str], identifiers: dict[str, set[str]]) -> list[tuple]:
    """Where the rows held on these people are, beyond the raw tables: (table, condition,
    parameters) for the quarantine (any of their identifiers in a rejected line's text) and
    every derived table (by person_id or an identifier column). `forget` deletes exactly these
    and `access` returns them, so the two can never cover different tables."""
    held = []
    plain = {v for values in identifiers.values() for v in values} | {normalize(p) for p in people}
    if table_exists(conn, "raw", "quarantine"):
        rows = conn.execute("select rowid, raw_record from raw.quarantine").fetchall()
        hits = [rid for rid, raw in rows if raw and set(TOKEN.findall(normalize(raw))) & plain]
        if hits:
            held.append(("raw.quarantine", f"rowid in ({_in(hits)})", hits))
    values = sorted(plain)
    for schema, table, columns in _derived_tables(conn):
        conditions, params = [], []
        if "person_id" in columns and people:
            conditions.append(f"person_id in ({_in(people)})")
            params += sorted(people)
        for column in DERIVED_IDENTIFIER_COLUMNS:
            if column in columns and values:
                conditions.append(f"lower(trim(cast({column} as varchar))) in ({_in(values)})")
                params += values
        if conditions:
            held.append((f"{schema}.{table}", " or ".join(conditions), params))
    return held


def raw_rows(conn, identifiers: dict[str, set[str]]) -> list[tuple]:
    """(table, condition, parameters) for each raw table's rows carrying these identifiers."""
    held = []
    for table, columns in RAW_IDENTIFIERS.items():
        if not table_exists(conn, "raw", table):
            continue
        conditions, params = [], []
        for column, kind in columns:
            values = sorted(identifiers.get(kind, ()))
            if values:
                conditions.append(f"lower(trim(cast({column} as varchar))) in ({_in(values)})")
                params += values
        if conditions:
            held.append((f"raw.{table}", " or ".join(conditions), params))
    return held


def forget(
    conn: duckdb.DuckDBPyConnection,
    email: str,
    exports_dir: Path,
    now: datetime | None = None,
    dry_run: bool = False,
    landing_dir: Path | None = None,
) -> ErasureReport:
    """Erase everyone behind `email` from the warehouse and the exports, keeping only salted
    hashes of their identifiers, and log the erasure without personal data. A dry run counts
    what would be removed from the warehouse, then rolls it all back and leaves the exports.
    With `landing_dir`, the report names the landing files that still mention them."""
    now = now or datetime.now()
    ensure_tables(conn)
    email = normalize(email)
    people, identifiers = find_person(conn, email)
    erasure_id = str(uuid.uuid4())
    salt_value = salt()
    hashed = [
        (kind, hash_identifier(kind, value, salt_value), erasure_id)
        for kind, values in identifiers.items()
        for value in sorted(values)
    ]
    report = ErasureReport(erasure_id, len(people), len(hashed))
    if landing_dir is not None:
        report.landing_files = landing_mentions(landing_dir, identifiers)
    conn.execute("begin transaction")
    conn.executemany(f"insert or ignore into {SCHEMA}.erased_identifiers values (?, ?, ?)", hashed)
    conn.executemany(
        f"insert or replace into {SCHEMA}.suppression_list values (?, 'erasure', ?, ?)",
        [(digest, now, now) for kind, digest, _ in hashed if kind == "email"],
    )
    for table in RAW_IDENTIFIERS:
        if table_exists(conn, "raw", table):
            condition, n = erased_condition(table)
            removed = delete_counted(conn, f"raw.{table}", condition, [salt_value] * n)
            if removed:
                report.rows_removed[f"raw.{table}"] = removed
    for table, condition, params in held_rows(conn, people, identifiers):
        removed = delete_counted(conn, table, condition, params)
        if removed:
            report.rows_removed[table] = removed
    if dry_run:
        conn.execute("rollback")
        return report
    report.export_files_changed = export.remove_people(exports_dir, people, identifiers["email"])
    conn.execute(
        f"insert into {SCHEMA}.erasure_log values (?, ?, ?, ?, ?, ?, ?)",
        [
            erasure_id,
            now,
            datetime.now(),
            len(people),
            len(hashed),
            json.dumps(report.rows_removed, sort_keys=True),
            report.export_files_changed,
        ],
    )
    conn.execute("commit")
    return report
