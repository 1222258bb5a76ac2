"""The raw schema's tables, declared in one place: one table per landing table, the load
audit, the quarantine and the load profiles the anomaly checks compare against."""

from __future__ import annotations

import duckdb

from orchestration.ingest.landing import LANDING_TABLES

RAW_SCHEMA = "raw"
SQL_TYPES = {
    "string": "varchar",
    "timestamp": "timestamp",
    "date": "date",
    "decimal": "double",
    "integer": "bigint",
    "boolean": "boolean",
}


def ensure_raw_schema(conn: duckdb.DuckDBPyConnection) -> None:
    """Create the raw schema and every landing table, so a source with no files reads empty."""
    conn.execute(f"create schema if not exists {RAW_SCHEMA}")
    conn.execute(
        f"""
        create table if not exists {RAW_SCHEMA}.load_audit (
            source_table varchar not null,
            file_name varchar not null,
            checksum varchar not null,
            file_bytes bigint,
            rows_received bigint not null,
            rows_loaded bigint not null,
            rows_quarantined bigint not null,
            status varchar not null,
            error varchar,
            unexpected_columns varchar,
            loaded_at timestamp not null
        )
        """
    )
    # Rows of people who asked to be erased: neither loaded nor quarantined, only counted.
    conn.execute(
        f"alter table {RAW_SCHEMA}.load_audit add column if not exists rows_erased bigint default 0"
    )
    conn.execute(
        f"""
        create table if not exists {RAW_SCHEMA}.quarantine (
            source_table varchar not null,
            file_name varchar not null,
            line_number bigint,
            reason varchar not null,
            raw_record varchar,
            quarantined_at timestamp not null
        )
        """
    )
    for table in LANDING_TABLES:
        columns = ",\n".join(f"{c.name} {SQL_TYPES[c.type]}" for c in table.columns)
        conn.execute(
            f"""
            create table if not exists {RAW_SCHEMA}.{table.name} (
                {columns},
                _source_file varchar not null,
                _source_line bigint not null,
                _loaded_at timestamp not null
            )
            """
        )
        # A warehouse made before a column joined the contract gains it, empty.
        for c in table.columns:
            conn.execute(
                f"alter table {RAW_SCHEMA}.{table.name} add column if not exists {c.name} {SQL_TYPES[c.type]}"
            )
    conn.execute(
        f"""
        create table if not exists {RAW_SCHEMA}.load_profiles (
            source_table varchar not null,
            loaded_at timestamp not null,
            files bigint not null,
            rows_loaded bigint not null,
            null_rates varchar not null
        )
        """
    )
