"""SMTP delivery of exported messages, recorded in the send ledger."""

from __future__ import annotations

from datetime import date
from pathlib import Path

import duckdb

from email_render.delivery import SmtpSettings, deliver
from email_render.export import read_messages


def deliver_pending(
    conn: duckdb.DuckDBPyConnection,
    campaign_id: str,
    send_date: date,
    out_dir: Path,
    smtp: SmtpSettings,
    sender: str,
) -> int:
    """Deliver every exported message of the day not yet delivered, recording each as the
    server accepts it. A crash between acceptance and the record can repeat one message;
    its Message-ID is the same, so a receiving system can drop it."""
    pending = conn.execute(
        """
        select l.person_id, a.email from email.send_ledger as l
        join email.send_audience as a on l.person_id = a.person_id
        where l.campaign_id = ? and l.send_date = ? and l.delivered_at is null
        order by l.person_id
        """,
        [campaign_id, send_date],
    ).fetchall()
    recipients = dict(pending)
    messages = (
        (person, recipients[person], message)
        for person, message in read_messages(out_dir)
        if person in recipients
    )
    delivered = 0
    for person in deliver(smtp, sender, messages):
        conn.execute(
            "update email.send_ledger set delivered_at = current_timestamp"
            " where campaign_id = ? and send_date = ? and person_id = ?",
            [campaign_id, send_date, person],
        )
        delivered += 1
    return delivered
