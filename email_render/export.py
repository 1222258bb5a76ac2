"""Files of an export: the .eml messages (one zip per batch), the ESP upload (JSON lines and CSV) and HTML
previews. Messages and previews are written whole; the upload files grow batch by batch and
are cleaned of uncommitted lines when an export resumes after a crash."""

from __future__ import annotations

import csv
import html as html_lib
import io
import json
import os
import zipfile
from collections.abc import Callable, Iterable, Iterator
from datetime import datetime
from pathlib import Path
from typing import NamedTuple

import orjson

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
    "send_at",
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


DEFAULT_SEND_HOUR = 9


def _send_hour(recipient: dict) -> int:
    """The ESP schedules each message at the person's preferred hour (UTC) on the send date."""
    hour = recipient.get("preferred_send_hour")
    return int(hour) if hour is not None else DEFAULT_SEND_HOUR


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
        "send_at": f"{send_date}T{_send_hour(recipient):02d}:00:00Z",
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


def message_archive(out_dir: Path, batch_no: int) -> Path:
    return out_dir / "eml" / f"batch-{batch_no:06d}.zip"


def serialize(record: dict, eml: bytes, batch_no: int) -> Serialized:
    row = io.StringIO()
    member = f"eml/batch-{batch_no:06d}.zip/{record['person_id']}.eml"
    record_for_csv = {**record, "eml_file": member}
    csv.writer(row, lineterminator="\n").writerow([record_for_csv[c] for c in CSV_COLUMNS])
    return Serialized(
        record["person_id"],
        record["variant"],
        record["message_id"],
        eml,
        orjson.dumps(record) + b"\n",
        row.getvalue().encode("utf-8"),
    )


def _write_private(path: Path, data: bytes) -> None:
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    try:
        os.write(fd, data)
    finally:
        os.close(fd)


def write_messages(out_dir: Path, batch_no: int, sends: list[Serialized]) -> Path:
    """A batch's messages as one zip archive, stored uncompressed, with a `<person_id>.eml`
    entry per message (RFC 5322, as `build_message` made it). One file per batch rather than
    per message: creating 50,000 small files cost more than rendering them. Written under a
    temporary name and renamed, so a batch's archive is either whole or absent."""
    path = message_archive(out_dir, batch_no)
    path.parent.mkdir(parents=True, exist_ok=True)
    partial = path.with_name(path.name + ".partial")
    fd = os.open(partial, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "wb") as fh, zipfile.ZipFile(fh, "w", zipfile.ZIP_STORED) as archive:
        for send in sends:
            info = zipfile.ZipInfo(f"{send.person_id}.eml", date_time=(1980, 1, 1, 0, 0, 0))
            info.external_attr = 0o600 << 16
            archive.writestr(info, send.eml)
    os.replace(partial, path)
    return path


def read_messages(out_dir: Path) -> Iterator[tuple[str, bytes]]:
    """(person_id, message) for every exported message, batch by batch."""
    for path in sorted((out_dir / "eml").glob("batch-*.zip")):
        with zipfile.ZipFile(path) as archive:
            for name in archive.namelist():
                yield name.removesuffix(".eml"), archive.read(name)


def keep_upload_lines(out_dir: Path, keep: Callable[[str, str], bool]) -> tuple[int, int]:
    """Rewrite sends.jsonl and sends.csv with only the sends for which keep(person_id,
    recipient) holds. Returns the sends left in sends.jsonl and how many files changed."""
    kept_sends, changed = 0, 0
    jsonl, table = out_dir / "sends.jsonl", out_dir / "sends.csv"
    if jsonl.exists():
        lines = jsonl.read_bytes().splitlines(keepends=True)
        records = [orjson.loads(line) for line in lines]
        good = [
            line
            for line, r in zip(lines, records, strict=True)
            if keep(r["person_id"], r.get("recipient") or "")
        ]
        if len(good) != len(lines):
            write_atomic(jsonl, b"".join(good))
            changed += 1
        kept_sends = len(good)
    if table.exists():
        rows = list(csv.reader(io.StringIO(table.read_text(encoding="utf-8"))))
        if rows:
            header, body = rows[0], rows[1:]
            person, recipient = header.index("person_id"), header.index("recipient")
            good_rows = [r for r in body if keep(r[person], r[recipient])]
            if len(good_rows) != len(body):
                out = io.StringIO()
                csv.writer(out, lineterminator="\n").writerows([header, *good_rows])
                write_atomic(table, out.getvalue().encode("utf-8"))
                changed += 1
    return kept_sends, changed


class Upload:
    """The ESP upload files, sends.jsonl and sends.csv, appended batch by batch in order.

    Lines reach the files before their ledger rows are committed, so a crash in between
    leaves lines of people the ledger does not have; `open` drops those first, and the batch
    is exported again. Each line is written once, not copied from part files."""

    def __init__(self, out_dir: Path):
        self.jsonl = out_dir / "sends.jsonl"
        self.csv = out_dir / "sends.csv"
        self._files: list = []

    def open(self, committed: set[str]) -> int:
        """Keep only the lines of committed people; returns how many there are."""
        kept, _ = keep_upload_lines(self.jsonl.parent, lambda person, _: person in committed)
        if not self.csv.exists():
            header = io.StringIO()
            csv.writer(header, lineterminator="\n").writerow(CSV_COLUMNS)
            write_atomic(self.csv, header.getvalue().encode("utf-8"))
        if not self.jsonl.exists():
            write_atomic(self.jsonl, b"")
        self._files = [open(self.jsonl, "ab"), open(self.csv, "ab")]  # noqa: SIM115
        return kept

    def append(self, json_lines: bytes, csv_lines: bytes) -> None:
        for fh, data in zip(self._files, (json_lines, csv_lines), strict=True):
            fh.write(data)
            fh.flush()

    def close(self) -> None:
        for fh in self._files:
            fh.close()
        self._files = []


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
