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
from typing import NamedTuple

from email_render.eml import build_message, message_id
from email_render.render import Renderer

# The JSON lines upload carries everything, bodies included; the CSV is the light index an
# ESP's list import takes, pointing at each message's .eml file.
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
CSV_COLUMNS = [c for c in UPLOAD_COLUMNS if c not in ("html", "text")] + ["eml_file"]


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


class Serialized(NamedTuple):
    """A send ready for disk: made in the rendering worker, so the exporting process only writes."""

    person_id: str
    variant: str
    message_id: str
    eml: bytes
    json_line: bytes
    csv_line: bytes


def serialize(record: dict, eml: bytes) -> Serialized:
    row = io.StringIO()
    record_for_csv = {**record, "eml_file": f"eml/{record['person_id']}.eml"}
    csv.writer(row, lineterminator="\n").writerow([record_for_csv[c] for c in CSV_COLUMNS])
    return Serialized(
        record["person_id"],
        record["variant"],
        record["message_id"],
        eml,
        (json.dumps(record, ensure_ascii=False) + "\n").encode("utf-8"),
        row.getvalue().encode("utf-8"),
    )


def _write_private(path: Path, data: bytes) -> None:
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "wb") as fh:
        fh.write(data)


def write_batch(out_dir: Path, batch_no: int, sends: list[Serialized]) -> Path:
    """Write a batch's messages, then its part files; the renamed part marks the batch done.

    A crash mid-batch leaves its part missing, and the batch is rewritten whole on resume,
    so the messages themselves need no rename of their own."""
    eml_dir, parts = out_dir / "eml", out_dir / "parts"
    eml_dir.mkdir(parents=True, exist_ok=True)
    parts.mkdir(parents=True, exist_ok=True)
    for send in sends:
        _write_private(eml_dir / f"{send.person_id}.eml", send.eml)
    write_atomic(parts / f"part-{batch_no:06d}.csv", b"".join(s.csv_line for s in sends))
    part = parts / f"part-{batch_no:06d}.jsonl"
    write_atomic(part, b"".join(s.json_line for s in sends))
    return part


def assemble_upload(out_dir: Path) -> tuple[Path, Path, int]:
    """Concatenate the part files, in batch order, into sends.jsonl and sends.csv."""
    jsonl, csv_path = out_dir / "sends.jsonl", out_dir / "sends.csv"
    count = 0
    parts = sorted((out_dir / "parts").glob("part-*.jsonl"))
    with open(jsonl.with_name("sends.jsonl.partial"), "wb") as upload:
        for part in parts:
            data = part.read_bytes()
            count += data.count(b"\n")
            upload.write(data)
    with open(csv_path.with_name("sends.csv.partial"), "wb") as table:
        header = io.StringIO()
        csv.writer(header, lineterminator="\n").writerow(CSV_COLUMNS)
        table.write(header.getvalue().encode("utf-8"))
        for part in parts:
            table.write(part.with_suffix(".csv").read_bytes())
    for path in (jsonl, csv_path):
        partial = path.with_name(path.name + ".partial")
        os.chmod(partial, 0o600)
        os.replace(partial, path)
    return jsonl, csv_path, count


def write_previews(out_dir: Path, title: str, previews: Iterable[tuple[str, str, dict]]) -> Path:
    """previews: (variant, segment, upload record). One HTML page each, an index, and
    samples.json naming the person each page was rendered for, so an erasure can find it."""
    folder = out_dir / "previews"
    folder.mkdir(parents=True, exist_ok=True)
    rows = io.StringIO()
    samples = {}
    for variant, segment, record in previews:
        name = f"{variant}__{segment}".replace("/", "_").replace(" ", "_") + ".html"
        (folder / name).write_text(record["html"], encoding="utf-8")
        samples[name] = record["person_id"]
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
    (folder / "samples.json").write_text(json.dumps(samples, indent=1), encoding="utf-8")
    return index
