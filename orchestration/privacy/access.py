"""The right of access: everything held on a person, as one JSON-ready document."""

from __future__ import annotations

import json
from datetime import datetime
from pathlib import Path

import duckdb

from orchestration.privacy.erasure import find_person, held_rows, raw_rows
from orchestration.privacy.identifiers import normalize
from orchestration.privacy.landing_mentions import landing_mentions


def access(conn: duckdb.DuckDBPyConnection, email: str, landing_dir: Path | None = None) -> dict:
    """Everything held on the people behind an email, as one JSON-ready document; with
    `landing_dir`, also the landing files that still mention them."""
    email = normalize(email)
    people, identifiers = find_person(conn, email)
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
        # Everything above and the rest (web and email events, raw records, quarantined lines):
        # every row `forget` would delete, table by table.
        "every_table": every_table(conn, people, identifiers),
        # Not ours to rewrite: the sources' exports, named so the operator can act on them.
        "landing_files": landing_mentions(landing_dir, identifiers) if landing_dir else [],
    }


def every_table(conn, people: set[str], identifiers: dict[str, set[str]]) -> dict[str, list]:
    """Each table's rows held on these people: the same tables and rows `forget` deletes."""
    found = {}
    for table, condition, params in [
        *raw_rows(conn, identifiers),
        *held_rows(conn, people, identifiers),
    ]:
        frame = conn.execute(f"select * from {table} where {condition}", params).df()
        if len(frame):
            found[table] = json.loads(frame.to_json(orient="records", date_format="iso"))
    return found
