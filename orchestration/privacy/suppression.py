"""The suppression list: salted hashes of every email never to mail."""

from __future__ import annotations

from datetime import datetime

import duckdb

from orchestration.privacy.identifiers import salt, sql_hash
from orchestration.privacy.privacy_tables import SCHEMA, ensure_tables


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
