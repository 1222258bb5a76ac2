"""The privacy schema's tables, declared in one place."""

from __future__ import annotations

import duckdb

SCHEMA = "privacy"


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


def delete_counted(conn, table: str, where: str, params: list) -> int:
    """Delete and return how many rows went: DuckDB reports it, no counting before and after."""
    return conn.execute(f"delete from {table} where {where}", params).fetchall()[0][0]
