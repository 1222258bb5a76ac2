"""Write a campaign's sends as an ESP bulk-upload file (JSON lines) plus HTML previews.

Recipients stream through: one rendered email is in memory at a time. The upload file is
written under a temporary name and renamed when complete, so a crash never leaves a
half-written file that looks finished.
"""

from __future__ import annotations

import html as html_lib
import json
import os
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path

from email_render.render import Renderer


@dataclass
class ExportSummary:
    campaign_id: str
    send_date: str
    upload_path: Path
    previews_dir: Path
    sends: int = 0
    previews: list[Path] = field(default_factory=list)
    missing_name: int = 0
    without_products: int = 0


def export_campaign(
    renderer: Renderer,
    recipients: Iterable[dict],
    exports_dir: Path,
    send_date: str,
    preview_count: int = 10,
) -> ExportSummary:
    campaign = renderer.campaign
    out_dir = exports_dir / campaign.campaign_id / send_date
    previews_dir = out_dir / "previews"
    previews_dir.mkdir(parents=True, exist_ok=True)
    summary = ExportSummary(campaign.campaign_id, send_date, out_dir / "sends.jsonl", previews_dir)
    partial = summary.upload_path.with_suffix(".jsonl.partial")
    preview_missing_data = None
    with partial.open("w", encoding="utf-8") as upload:
        for recipient in recipients:
            email = renderer.render(recipient)
            record = {
                "campaign_id": campaign.campaign_id,
                "send_date": send_date,
                "person_id": recipient["person_id"],
                "recipient": recipient["email"],
                "subject": email.subject,
                "preheader": email.preheader,
                "html": email.html,
                "text": email.text,
                "unsubscribe_url": recipient.get("unsubscribe_url"),
            }
            upload.write(json.dumps(record, ensure_ascii=False) + "\n")
            summary.sends += 1
            incomplete = not recipient.get("first_name") or not recipient.get("products")
            summary.missing_name += not recipient.get("first_name")
            summary.without_products += not recipient.get("products")
            if len(summary.previews) < preview_count:
                summary.previews.append(_write_preview(previews_dir, recipient, email))
            elif incomplete and preview_missing_data is None:
                preview_missing_data = _write_preview(previews_dir, recipient, email)
    os.replace(partial, summary.upload_path)
    if preview_missing_data is not None:
        summary.previews.append(preview_missing_data)
    _write_index(previews_dir, summary)
    return summary


def _write_preview(previews_dir: Path, recipient: dict, email) -> Path:
    path = previews_dir / f"{recipient['person_id']}.html"
    path.write_text(email.html, encoding="utf-8")
    path.with_suffix(".txt").write_text(
        f"Subject: {email.subject}\n\n{email.text}", encoding="utf-8"
    )
    return path


def _write_index(previews_dir: Path, summary: ExportSummary) -> None:
    items = "\n".join(
        f'<li><a href="{html_lib.escape(p.name)}">{html_lib.escape(p.stem)}</a></li>'
        for p in summary.previews
    )
    (previews_dir / "index.html").write_text(
        f"<!doctype html><meta charset='utf-8'><title>{html_lib.escape(summary.campaign_id)} previews</title>"
        f"<h1>{html_lib.escape(summary.campaign_id)} · {summary.send_date}</h1>"
        f"<p>{summary.sends} sends exported to sends.jsonl</p><ul>{items}</ul>",
        encoding="utf-8",
    )
