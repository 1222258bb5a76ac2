"""Files of an export: one .eml per message, batch part files, the assembled ESP upload (JSON
lines and CSV) and HTML previews. Every file is written under a temporary name and renamed
when complete, so a crash never leaves a half-written file that looks finished."""

from __future__ import annotations

import csv
import html as html_lib
import io
import json
import os
from collections.abc import Iterable
from datetime import datetime
from pathlib import Path

from email_render.eml import build_message, message_id
from email_render.render import Renderer

UPLOAD_COLUMNS = [
    "campaign_id",
    "send_date",
    "person_id",
    "recipient",
    "variant",
    "subject",
    "preheader",
    "message_id",
    "unsubscribe_url",
    "html",
    "text",
]


def write_atomic(path: Path, data: bytes) -> None:
    partial = path.with_name(path.name + ".partial")
    partial.write_bytes(data)
    os.chmod(partial, 0o600)  # exports hold personal data: readable by their owner only
    os.replace(partial, path)


def render_send(
    renderer: Renderer, recipient: dict, variant: str, send_date: str, sender: str, domain: str
) -> tuple[dict, bytes]:
    """The upload record and the RFC 5322 message of one send."""
    email = renderer.render(recipient, variant)
    campaign_id = renderer.campaign.campaign_id
    msg_id = message_id(campaign_id, recipient["person_id"], send_date, domain)
    record = {
        "campaign_id": campaign_id,
        "send_date": send_date,
        "person_id": recipient["person_id"],
        "recipient": recipient["email"],
        "variant": variant,
        "subject": email.subject,
        "preheader": email.preheader,
        "message_id": msg_id,
        "unsubscribe_url": recipient["unsubscribe_url"],
        "html": email.html,
        "text": email.text,
    }
    eml = build_message(
        sender=sender,
        recipient=recipient["email"],
        subject=email.subject,
        text=email.text,
        html=email.html,
        msg_id=msg_id,
        unsubscribe_url=recipient["unsubscribe_url"],
        unsubscribe_mailto=f"unsubscribe+{campaign_id}@{domain}",
        sent_at=datetime.fromisoformat(send_date),
        campaign_id=campaign_id,
        variant=variant,
    )
    return record, eml


def write_batch(out_dir: Path, batch_no: int, sends: list[tuple[dict, bytes]]) -> Path:
    """Write a batch's messages, then its part file; the part file's rename marks it done."""
    eml_dir = out_dir / "eml"
    eml_dir.mkdir(parents=True, exist_ok=True)
    for record, eml in sends:
        write_atomic(eml_dir / f"{record['person_id']}.eml", eml)
    lines = "".join(json.dumps(record, ensure_ascii=False) + "\n" for record, _ in sends)
    part = out_dir / "parts" / f"part-{batch_no:06d}.jsonl"
    part.parent.mkdir(parents=True, exist_ok=True)
    write_atomic(part, lines.encode("utf-8"))
    return part


def assemble_upload(out_dir: Path) -> tuple[Path, Path, int]:
    """Concatenate the part files, in batch order, into sends.jsonl and sends.csv."""
    parts = sorted((out_dir / "parts").glob("part-*.jsonl"))
    jsonl, csv_path = out_dir / "sends.jsonl", out_dir / "sends.csv"
    count = 0
    with (
        open(jsonl.with_name("sends.jsonl.partial"), "w", encoding="utf-8") as upload,
        open(csv_path.with_name("sends.csv.partial"), "w", encoding="utf-8", newline="") as table,
    ):
        writer = csv.DictWriter(table, fieldnames=UPLOAD_COLUMNS)
        writer.writeheader()
        for part in parts:
            with part.open(encoding="utf-8") as fh:
                for line in fh:
                    upload.write(line)
                    writer.writerow(json.loads(line))
                    count += 1
    for path in (jsonl, csv_path):
        partial = path.with_name(path.name + ".partial")
        os.chmod(partial, 0o600)
        os.replace(partial, path)
    return jsonl, csv_path, count


def write_previews(out_dir: Path, title: str, previews: Iterable[tuple[str, str, dict]]) -> Path:
    """previews: (variant, segment, upload record). One HTML page each, and an index."""
    folder = out_dir / "previews"
    folder.mkdir(parents=True, exist_ok=True)
    rows = io.StringIO()
    for variant, segment, record in previews:
        name = f"{variant}__{segment}".replace("/", "_").replace(" ", "_") + ".html"
        (folder / name).write_text(record["html"], encoding="utf-8")
        rows.write(
            f"<tr><td>{html_lib.escape(variant)}</td><td>{html_lib.escape(segment)}</td>"
            f"<td>{html_lib.escape(record['subject'])}</td>"
            f"<td><a href='{html_lib.escape(name)}'>preview</a></td></tr>"
        )
    index = folder / "index.html"
    index.write_text(
        f"<!doctype html><meta charset='utf-8'><title>{html_lib.escape(title)}</title>"
        f"<h1>{html_lib.escape(title)}</h1><table border='1' cellpadding='4'>"
        f"<tr><th>variant</th><th>segment</th><th>subject</th><th></th></tr>{rows.getvalue()}</table>",
        encoding="utf-8",
    )
    return index
