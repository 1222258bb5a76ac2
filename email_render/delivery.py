"""Optional delivery of exported messages over SMTP. Credentials come from the environment
(MAILPIPE_SMTP_*, read by orchestration.settings), never from the repository; without a host nothing is delivered and the
exported files are the hand-over to an email service."""

from __future__ import annotations

import smtplib
from collections.abc import Iterable, Iterator
from dataclasses import dataclass


@dataclass(frozen=True)
class SmtpSettings:
    host: str
    port: int = 587
    username: str | None = None
    password: str | None = None
    starttls: bool = True


def deliver(
    settings: SmtpSettings, sender: str, messages: Iterable[tuple[str, str, bytes]]
) -> Iterator[str]:
    """Send each (key, recipient, message) on one connection; yield each key once the server
    has accepted its message, so the caller can record it before the next."""
    with smtplib.SMTP(settings.host, settings.port, timeout=30) as smtp:
        if settings.starttls:
            smtp.starttls()
        if settings.username:
            smtp.login(settings.username, settings.password or "")
        for key, recipient, message in messages:
            smtp.sendmail(sender, [recipient], message)
            yield key
