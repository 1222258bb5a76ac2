"""RFC 5322 messages: multipart/alternative (text, then HTML), one-click unsubscribe
(RFC 8058) and a Message-ID derived from campaign, person and day, so that the same send
always carries the same id and a receiving system can drop a duplicate."""

from __future__ import annotations

import hashlib
from datetime import UTC, datetime
from email.message import EmailMessage
from email.policy import SMTP
from email.utils import format_datetime

# Long unsubscribe URLs must stay plain in their header: fold at the RFC 5322 hard limit
# rather than at 78, where the default policy would turn them into encoded words.
POLICY = SMTP.clone(max_line_length=998)


def message_id(campaign_id: str, person_id: str, send_date: str, domain: str) -> str:
    digest = hashlib.sha256(f"{campaign_id}:{person_id}:{send_date}".encode()).hexdigest()[:32]
    return f"<{digest}@{domain}>"


def build_message(
    *,
    sender: str,
    recipient: str,
    subject: str,
    text: str,
    html: str,
    msg_id: str,
    unsubscribe_url: str,
    unsubscribe_mailto: str,
    sent_at: datetime,
    campaign_id: str,
    variant: str,
) -> bytes:
    msg = EmailMessage(policy=POLICY)
    msg["From"] = sender
    msg["To"] = recipient
    msg["Subject"] = subject
    msg["Date"] = format_datetime(sent_at if sent_at.tzinfo else sent_at.replace(tzinfo=UTC))
    msg["Message-ID"] = msg_id
    msg["List-Unsubscribe"] = f"<{unsubscribe_url}>, <mailto:{unsubscribe_mailto}>"
    msg["List-Unsubscribe-Post"] = "List-Unsubscribe=One-Click"
    msg["X-Campaign-ID"] = campaign_id
    msg["X-Variant"] = variant
    msg.set_content(text)
    msg.add_alternative(html, subtype="html")
    return msg.as_bytes()
