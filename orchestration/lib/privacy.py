"""Privacy: the suppression list, the right to erasure, the right of access, and retention.

Identifiers of erased people are kept only as salted SHA-256 hashes, in
`privacy.erased_identifiers` (which the loader consults, so the next import does not re-create
them) and, for emails, in `privacy.suppression_list` (which every send consults). The salt
comes from MAILPIPE_PRIVACY_SALT, or is generated once into the data folder, readable by its
owner only: without it the hashes cannot be tested against a guessed address.
"""

from __future__ import annotations

import hashlib
import json
import os
import re
import secrets
import shutil
import uuid
import zipfile
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path

import duckdb
import pandas as pd

from email_render.export import keep_upload_lines, stored_zip, write_atomic
from orchestration.lib import settings

SCHEMA = "privacy"
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
RETAINED_EVENT_TABLES = {
    "raw.web_events": "occurred_at",
    "raw.esp_email_events": "occurred_at",
    "marts.fct_web_events": "occurred_at",
    "marts.fct_email_events": "occurred_at",
}


def normalize(value: str) -> str:
    return str(value).strip().lower()


def salt() -> str:
    value = os.environ.get("MAILPIPE_PRIVACY_SALT")
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


def ensure_tables(conn: duckdb.DuckDBPyConnection) -> None:
    conn.execute(f"create schema if not exists {SCHEMA}")
    conn.execute(
        f"""
        create table if not exists {SCHEMA}.suppression_list (
            email_hash varchar primary key, reason varchar not null,
            opted_out_at timestamp not null, added_at timestamp not null
        )
        """
    )
    conn.execute(
        f"""
        create table if not exists {SCHEMA}.erased_identifiers (
            identifier_type varchar not null, identifier_hash varchar not null,
            erasure_id varchar not null, primary key (identifier_type, identifier_hash)
        )
        """
    )
    conn.execute(
        f"""
        create table if not exists {SCHEMA}.erasure_log (
            erasure_id varchar primary key, requested_at timestamp not null,
            completed_at timestamp not null, people_erased integer not null,
            identifiers_hashed integer not null, rows_removed varchar not null,
            export_files_changed integer not null
        )
        """
    )
    conn.execute(
        f"""
        create table if not exists {SCHEMA}.retention_log (
            table_name varchar not null, retention_days integer not null,
            cutoff_at timestamp not null, rows_removed bigint not null,
            purged_at timestamp not null
        )
        """
    )


def _table_exists(conn, schema: str, table: str) -> bool:
    return bool(
        conn.execute(
            "select count(*) from information_schema.tables where table_schema = ? and table_name = ?",
            [schema, table],
        ).fetchall()[0][0]
    )


# ---------------------------------------------------------------- suppression


def refresh_suppression_list(conn: duckdb.DuckDBPyConnection, now: datetime) -> dict[str, int]:
    """Add the emails of everyone unsubscribed, complained or hard-bounced; lift an
    unsubscribe or complaint entry only for an opt-in newer than the opt-out it recorded, so
    a re-import that lost the email service's history cannot lift it. Erasure and hard-bounce
    entries stay for good. Returns the list's size by reason."""
    ensure_tables(conn)
    email_hash = sql_hash("email", "email")
    conn.execute(
        f"""
        insert or ignore into {SCHEMA}.suppression_list
        select {email_hash}, any_value(reason), max(opted_out_at), ?
        from (
            select email, coalesce(consent_updated_at, ?) as opted_out_at,
                case
                    when has_hard_bounced then 'hard_bounce'
                    when has_complained then 'complaint'
                    when is_unsubscribed then 'unsubscribe'
                end as reason
            from marts.dim_customers
            where email is not null
        )
        where reason is not null
        group by all
        """,
        [salt(), now, now],
    )
    conn.execute(
        f"""
        delete from {SCHEMA}.suppression_list as entry
        where entry.reason in ('unsubscribe', 'complaint')
            and exists (
                select 1 from marts.dim_customers as c
                where c.email is not null and c.has_marketing_consent
                    and c.consent_updated_at > entry.opted_out_at
                    and {sql_hash("email", "c.email")} = entry.email_hash
            )
        """,
        [salt()],
    )
    return dict(
        conn.execute(
            f"select reason, count(*) from {SCHEMA}.suppression_list group by 1 order by 1"
        ).fetchall()
    )


# ---------------------------------------------------------------- loading


def has_erasures(conn: duckdb.DuckDBPyConnection) -> bool:
    # Checked in the catalog: a failed query would abort the loader's open transaction.
    if not _table_exists(conn, SCHEMA, "erased_identifiers"):
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


# ---------------------------------------------------------------- erasure


@dataclass
class ErasureReport:
    erasure_id: str
    people_erased: int
    identifiers_hashed: int
    rows_removed: dict[str, int] = field(default_factory=dict)
    export_files_changed: int = 0

    def summary(self) -> str:
        removed = sum(self.rows_removed.values())
        return (
            f"erasure {self.erasure_id}: {self.people_erased} person(s), "
            f"{self.identifiers_hashed} identifiers kept as salted hashes, {removed:,} rows removed "
            f"from {len(self.rows_removed)} tables, {self.export_files_changed} export files changed"
        )


def _find_person(conn, email: str) -> tuple[set[str], dict[str, set[str]]]:
    """The people behind an email, and every identifier of theirs, by kind (plain text)."""
    identifiers: dict[str, set[str]] = {kind: set() for kind in set(RECORD_KINDS.values())}
    identifiers["email"].add(email)
    seeds: set[tuple[str, str]] = {("esp_email_events", email)}
    for table, column in (
        ("crm_customers", "customer_id"),
        ("shop_orders", "order_id"),
        ("web_events", "anonymous_id"),
    ):
        if _table_exists(conn, "raw", table):
            for (record_id,) in conn.execute(
                f"select distinct {column} from raw.{table} where lower(trim(email)) = ?", [email]
            ).fetchall():
                seeds.add((table, str(record_id)))
    people: set[str] = set()
    if _table_exists(conn, "marts", "identity_links"):
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
        if values and _table_exists(conn, "raw", table):
            rows = conn.execute(
                f"select distinct lower(trim(email)) from raw.{table}"
                f" where email is not null and lower(trim({column})) in ({', '.join('?' * len(values))})",
                values,
            ).fetchall()
            identifiers["email"] |= {r[0] for r in rows if r[0]}
    return people, identifiers


def _delete_counted(conn, table: str, where: str, params: list) -> int:
    """Delete and return how many rows went: DuckDB reports it, no counting before and after."""
    return conn.execute(f"delete from {table} where {where}", params).fetchall()[0][0]


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


def forget(
    conn: duckdb.DuckDBPyConnection, email: str, exports_dir: Path, now: datetime | None = None
) -> ErasureReport:
    """Erase everyone behind `email` from the warehouse and the exports, keeping only salted
    hashes of their identifiers, and log the erasure without personal data."""
    now = now or datetime.now()
    ensure_tables(conn)
    email = normalize(email)
    people, identifiers = _find_person(conn, email)
    erasure_id = str(uuid.uuid4())
    salt_value = salt()
    hashed = [
        (kind, hash_identifier(kind, value, salt_value), erasure_id)
        for kind, values in identifiers.items()
        for value in sorted(values)
    ]
    report = ErasureReport(erasure_id, len(people), len(hashed))
    conn.execute("begin transaction")
    conn.executemany(f"insert or ignore into {SCHEMA}.erased_identifiers values (?, ?, ?)", hashed)
    conn.executemany(
        f"insert or replace into {SCHEMA}.suppression_list values (?, 'erasure', ?, ?)",
        [(digest, now, now) for kind, digest, _ in hashed if kind == "email"],
    )
    for table in RAW_IDENTIFIERS:
        if _table_exists(conn, "raw", table):
            condition, n = erased_condition(table)
            removed = _delete_counted(conn, f"raw.{table}", condition, [salt_value] * n)
            if removed:
                report.rows_removed[f"raw.{table}"] = removed
    plain = {v for values in identifiers.values() for v in values} | {normalize(p) for p in people}
    if _table_exists(conn, "raw", "quarantine"):
        rows = conn.execute("select rowid, raw_record from raw.quarantine").fetchall()
        hits = [rid for rid, raw in rows if raw and set(TOKEN.findall(normalize(raw))) & plain]
        if hits:
            conn.execute(
                f"delete from raw.quarantine where rowid in ({', '.join('?' * len(hits))})", hits
            )
            report.rows_removed["raw.quarantine"] = len(hits)
    values = sorted(plain)
    for schema, table, columns in _derived_tables(conn):
        conditions, params = [], []
        if "person_id" in columns and people:
            conditions.append(f"person_id in ({', '.join('?' * len(people))})")
            params += sorted(people)
        for column in DERIVED_IDENTIFIER_COLUMNS:
            if column in columns and values:
                conditions.append(
                    f"lower(trim(cast({column} as varchar))) in ({', '.join('?' * len(values))})"
                )
                params += values
        if conditions:
            removed = _delete_counted(conn, f"{schema}.{table}", " or ".join(conditions), params)
            if removed:
                report.rows_removed[f"{schema}.{table}"] = removed
    report.export_files_changed = scrub_exports(exports_dir, people, identifiers["email"])
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


def scrub_exports(exports_dir: Path, people: set[str], emails: set[str]) -> int:
    """Remove the people's messages, upload lines and previews from every export."""
    if not exports_dir.exists():
        return 0
    changed = 0
    for archive_path in exports_dir.glob("*/*/eml/*.zip"):
        with zipfile.ZipFile(archive_path) as archive:
            names = archive.namelist()
            gone = [n for n in names if n.removesuffix(".eml") in people]
            kept = {n: archive.read(n) for n in names if n not in gone} if gone else {}
        if gone:
            write_atomic(archive_path, stored_zip(list(kept.items())))
            changed += 1
    for parts in exports_dir.glob("*/*/parts"):
        # Upload lines of batches a crashed export had not appended yet; it writes them
        # again when it resumes.
        shutil.rmtree(parts)
        changed += 1
    for out_dir in {path.parent for path in exports_dir.glob("*/*/sends.*")}:
        changed += keep_upload_lines(
            out_dir,
            lambda keys: [
                person not in people and normalize(recipient) not in emails
                for person, recipient in keys
            ],
        )[1]
    for manifest in exports_dir.glob("*/*/previews/samples.json"):
        samples = json.loads(manifest.read_text(encoding="utf-8"))
        gone = [name for name, person in samples.items() if person in people]
        if not gone:
            continue
        folder = manifest.parent
        for name in gone:
            (folder / name).unlink(missing_ok=True)
            del samples[name]
            changed += 1
        index = folder / "index.html"
        if index.exists():
            kept_rows = [
                row
                for row in index.read_text(encoding="utf-8").split("<tr>")
                if not any(f"href='{name}'" in row for name in gone)
            ]
            index.write_text("<tr>".join(kept_rows), encoding="utf-8")
        manifest.write_text(json.dumps(samples, indent=1), encoding="utf-8")
    return changed


# ---------------------------------------------------------------- access


def access(conn: duckdb.DuckDBPyConnection, email: str) -> dict:
    """Everything held on the people behind an email, as one JSON-ready document."""
    email = normalize(email)
    people, _ = _find_person(conn, email)
    ids = sorted(people)
    marks = ", ".join("?" * len(ids)) or "null"

    def rows(sql: str) -> list[dict]:
        try:
            frame = conn.execute(sql, ids).df()
        except duckdb.CatalogException:
            return []
        return json.loads(frame.to_json(orient="records", date_format="iso"))

    return {
        "request": {"email": email, "generated_at": datetime.now().isoformat()},
        "person_ids": ids,
        "profiles": rows(f"select * from marts.dim_customers where person_id in ({marks})"),
        "source_records": rows(f"select * from marts.identity_links where person_id in ({marks})"),
        "consent_history": rows(
            f"select * from marts.consent_history where person_id in ({marks}) order by occurred_at"
        ),
        "segments": rows(f"select * from marts.customer_segments where person_id in ({marks})"),
        "scores": rows(f"select * from ml.customer_scores where person_id in ({marks})"),
        "recommendations": rows(
            f"select * from ml.customer_recommendations where person_id in ({marks}) order by rank"
        ),
        "orders": rows(
            f"select * from marts.fct_orders where person_id in ({marks}) order by ordered_at"
        ),
        "sends": rows(
            f"select * from email.send_ledger where person_id in ({marks}) order by send_date"
        ),
        "journeys": rows(f"select * from email.journey_state where person_id in ({marks})"),
        "send_exclusions": rows(
            f"select * from email.send_exclusions where person_id in ({marks}) order by send_date"
        ),
    }


# ---------------------------------------------------------------- retention


def purge_expired(
    conn: duckdb.DuckDBPyConnection,
    as_of: datetime,
    retention_days: int,
    now: datetime | None = None,
) -> dict[str, int]:
    """Delete raw and modeled events older than the retention period; record what went."""
    ensure_tables(conn)
    cutoff = pd.Timestamp(as_of) - pd.Timedelta(days=retention_days)
    removed = {}
    for table, column in RETAINED_EVENT_TABLES.items():
        schema, name = table.split(".")
        if not _table_exists(conn, schema, name):
            continue
        removed[table] = _delete_counted(conn, table, f"{column} < ?", [cutoff.to_pydatetime()])
        conn.execute(
            f"insert into {SCHEMA}.retention_log values (?, ?, ?, ?, ?)",
            [table, retention_days, cutoff.to_pydatetime(), removed[table], now or datetime.now()],
        )
    return removed
