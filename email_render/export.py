"""Files of an export: the .eml messages (one zip per batch), the ESP upload (JSON lines and CSV) and HTML
previews. Messages and previews are written whole; the upload files grow batch by batch and
are cleaned of uncommitted lines when an export resumes after a crash."""

from __future__ import annotations

import contextlib
import csv
import html as html_lib
import io
import itertools
import json
import os
import shutil
import struct
import zipfile
import zlib
from collections.abc import Callable, Iterable, Iterator
from datetime import datetime
from pathlib import Path
from typing import NamedTuple

import orjson

from email_render import layout
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


def _write_private(path: Path, data: bytes) -> None:
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    os.fchmod(fd, 0o600)  # the mode above applies only to a file this call creates
    with open(fd, "wb") as fh:
        fh.write(data)


def write_atomic(path: Path, data: bytes) -> None:
    """Write under a temporary name and rename, so the file is whole or absent; readable by
    its owner only from the moment it exists, as exports hold personal data."""
    partial = path.with_name(path.name + ".partial")
    _write_private(partial, data)
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


class Rendered(NamedTuple):
    """One send ready for disk: its upload record and its RFC 5322 message."""

    record: dict
    eml: bytes


_LOCAL_HEADER = struct.Struct("<4s5H3L2H")
_CENTRAL_HEADER = struct.Struct("<4s6H3L5H2L")
_END_OF_ARCHIVE = struct.Struct("<4s4H2LH")
_UTF8_NAMES = 0x800
_JAN_1_1980 = 0x21  # MS-DOS date; time 00:00
_OWNER_READ_WRITE = 0o100600 << 16  # a regular file, rw------- (Unix attributes, made by 3)
_MAX_ENTRIES, _MAX_BYTES = 0xFFFE, 0xFFFFFFFF - 0xFFFF


def stored_zip(entries: list[tuple[str, bytes]]) -> bytes:
    """A zip archive of (name, data) entries, stored uncompressed, files readable by their
    owner only. Written here rather than with zipfile, which spent 10 µs an entry in
    Python on headers for 5 KB messages, a twentieth of an export's time; past the
    classic format's limits (65,535 entries or 4 GiB) zipfile writes it, as ZIP64."""
    total = sum(len(data) + 2 * len(name) + 100 for name, data in entries)
    if len(entries) > _MAX_ENTRIES or total > _MAX_BYTES:
        buffer = io.BytesIO()
        with zipfile.ZipFile(buffer, "w", zipfile.ZIP_STORED) as archive:
            for name, data in entries:
                info = zipfile.ZipInfo(name, date_time=(1980, 1, 1, 0, 0, 0))
                info.external_attr = _OWNER_READ_WRITE
                archive.writestr(info, data)
        return buffer.getvalue()
    parts, central, offset = [], [], 0
    for name, data in entries:
        encoded, crc, size = name.encode("utf-8"), zlib.crc32(data), len(data)
        local = _LOCAL_HEADER.pack(
            b"PK\x03\x04", 20, _UTF8_NAMES, 0, 0, _JAN_1_1980, crc, size, size, len(encoded), 0
        )
        parts += (local, encoded, data)
        central.append(
            _CENTRAL_HEADER.pack(
                b"PK\x01\x02",
                0x0314,
                20,
                _UTF8_NAMES,
                0,
                0,
                _JAN_1_1980,
                crc,
                size,
                size,
                len(encoded),
                0,
                0,
                0,
                0,
                _OWNER_READ_WRITE,
                offset,
            )
            + encoded
        )
        offset += len(local) + len(encoded) + size
    directory = b"".join(central)
    end = _END_OF_ARCHIVE.pack(
        b"PK\x05\x06", 0, 0, len(entries), len(entries), len(directory), offset, 0
    )
    return b"".join([*parts, directory, end])


# A cell a spreadsheet would run as a formula (CSV injection): =, +, -, @, tab, return.
FORMULA_STARTS = ("=", "+", "-", "@", "\t", "\r")


def spreadsheet_safe(value):
    """Text a person's data put in a CSV opens as text: a leading formula character gets a
    single quote before it, as spreadsheet programs and OWASP advise."""
    if isinstance(value, str) and value.startswith(FORMULA_STARTS):
        return "'" + value
    return value


def write_batch(out_dir: Path, batch_no: int, sends: list[Rendered]) -> None:
    """A batch's messages as one zip archive, and its upload lines as part files.

    The archive is stored uncompressed, with a `<person_id>.eml` entry per message. One file
    per batch rather than per message: creating 50,000 small files cost more than rendering
    them. It is built in memory and written under a temporary name, then renamed, so a
    batch's archive is either whole or absent."""
    path = layout.message_archive(out_dir, batch_no)
    path.parent.mkdir(parents=True, exist_ok=True)
    write_atomic(path, stored_zip([(f"{s.record['person_id']}.eml", s.eml) for s in sends]))

    jsonl, table = layout.upload_parts(out_dir, batch_no)
    jsonl.parent.mkdir(exist_ok=True)
    _write_private(jsonl, b"".join(orjson.dumps(send.record) + b"\n" for send in sends))
    rows = io.StringIO()
    csv.writer(rows, lineterminator="\n").writerows(
        [
            *(spreadsheet_safe(send.record[c]) for c in CSV_COLUMNS[:-1]),
            layout.message_member(batch_no, send.record["person_id"]),
        ]
        for send in sends
    )
    _write_private(table, rows.getvalue().encode("utf-8"))


def read_messages(out_dir: Path) -> Iterator[tuple[str, bytes]]:
    """(person_id, message) for every exported message, batch by batch."""
    for path in layout.message_archives(out_dir):
        with zipfile.ZipFile(path) as archive:
            for name in archive.namelist():
                yield name.removesuffix(".eml"), archive.read(name)


def keep_upload_lines(
    out_dir: Path, keep: Callable[[list[tuple[str, str]]], list[bool]], chunk: int = 10_000
) -> tuple[int, int]:
    """Rewrite sends.jsonl and sends.csv with only the sends `keep` accepts. `keep` gets
    (person_id, recipient) pairs a chunk at a time and answers with a bool each, so it can
    look them up in bulk. Both files are streamed: a resumed export of a million sends holds
    a chunk of lines, not the file. Returns the sends left in sends.jsonl and how many files
    changed."""
    jsonl, table = layout.upload_files(out_dir)
    kept_sends, changed = 0, 0
    if jsonl.exists():
        with _rewriting(jsonl, "b") as (source, target, dropped):
            while lines := list(itertools.islice(source, chunk)):
                records = [orjson.loads(line) for line in lines]
                keys = [(r["person_id"], r.get("recipient") or "") for r in records]
                for line, keep_it in zip(lines, keep(keys), strict=True):
                    if keep_it:
                        target.write(line)
                        kept_sends += 1
                    else:
                        dropped.append(1)
        changed += bool(dropped)
    if table.exists():
        # Through the csv module, not by lines: a quoted field may hold a line break.
        with _rewriting(table, "") as (source, target, dropped):
            reader, writer = csv.reader(source), csv.writer(target, lineterminator="\n")
            header = next(reader, None)
            if header is not None:
                writer.writerow(header)
                person, recipient = header.index("person_id"), header.index("recipient")
                while rows := list(itertools.islice(reader, chunk)):
                    keys = [(row[person], row[recipient]) for row in rows]
                    for row, keep_it in zip(rows, keep(keys), strict=True):
                        if keep_it:
                            writer.writerow(row)
                        else:
                            dropped.append(1)
        changed += bool(dropped)
    return kept_sends, changed


@contextlib.contextmanager
def _rewriting(path: Path, mode: str):
    """(source, target, dropped): the file is replaced by what was written to target if
    anything was appended to `dropped`, and left as it was otherwise."""
    partial = path.with_name(path.name + ".partial")
    fd = os.open(partial, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    text = {} if mode else {"encoding": "utf-8", "newline": ""}
    dropped: list[int] = []
    try:
        with open(path, "r" + mode, **text) as source, open(fd, "w" + mode, **text) as target:
            yield source, target, dropped
    except BaseException:
        partial.unlink(missing_ok=True)
        raise
    if dropped:
        os.replace(partial, path)
    else:
        partial.unlink()


class Upload:
    """The ESP upload files, sends.jsonl and sends.csv, appended batch by batch in order.

    Lines reach the files before their ledger rows are committed, so a crash in between
    leaves lines of people the ledger does not have; `open` drops those first, and the batch
    is exported again. Workers write each batch's lines to part files, and the kernel copies
    them onto the end of the upload (copy_file_range): no line passes through this process."""

    def __init__(self, out_dir: Path):
        self.jsonl, self.csv = layout.upload_files(out_dir)
        self.out_dir = out_dir
        self._files: list = []

    def open(self, committed: Callable[[list[str]], list[bool]]) -> int:
        """Keep only the lines of people for whom `committed` holds; returns how many there
        are. Part files a crash left behind are removed: their batches are exported again."""
        kept, _ = keep_upload_lines(self.out_dir, lambda keys: committed([p for p, _ in keys]))
        shutil.rmtree(layout.parts_dir(self.out_dir), ignore_errors=True)
        if not self.csv.exists():
            header = io.StringIO()
            csv.writer(header, lineterminator="\n").writerow(CSV_COLUMNS)
            write_atomic(self.csv, header.getvalue().encode("utf-8"))
        if not self.jsonl.exists():
            write_atomic(self.jsonl, b"")
        # Not opened for appending: copy_file_range refuses a target in O_APPEND mode.
        self._files = [open(path, "r+b", buffering=0) for path in (self.jsonl, self.csv)]  # noqa: SIM115
        for fh in self._files:
            fh.seek(0, os.SEEK_END)
        return kept

    def append_batch(self, batch_no: int) -> None:
        """Move the batch's part files onto the end of the upload files."""
        for fh, part in zip(self._files, layout.upload_parts(self.out_dir, batch_no), strict=True):
            _append_file(fh, part)
            part.unlink()

    def close(self) -> None:
        for fh in self._files:
            fh.close()
        self._files = []
        with contextlib.suppress(OSError):  # left in place if a batch's parts are still there
            layout.parts_dir(self.out_dir).rmdir()


def _append_file(target, path: Path) -> None:
    with open(path, "rb") as source:
        remaining = os.fstat(source.fileno()).st_size
        try:
            while remaining:
                copied = os.copy_file_range(source.fileno(), target.fileno(), remaining)
                if not copied:
                    break
                remaining -= copied
        except OSError:  # a file system without it: copy through this process
            shutil.copyfileobj(source, target)
            remaining = 0
        if remaining:
            shutil.copyfileobj(source, target)


def write_previews(
    out_dir: Path, title: str, previews: Iterable[tuple[str, str, dict]], sender: str = ""
) -> Path:
    """previews: (variant, segment, upload record). One HTML page and its text version each,
    samples.json naming the person each page was rendered for (so an erasure can find it),
    and the index with subject, preheader and sender."""
    folder = layout.previews_dir(out_dir)
    folder.mkdir(parents=True, exist_ok=True)
    pages = []
    for variant, segment, record in previews:
        name = f"{variant}__{segment}".replace("/", "_").replace(" ", "_") + ".html"
        (folder / name).write_text(record["html"], encoding="utf-8")
        (folder / name.replace(".html", ".txt")).write_text(record["text"], encoding="utf-8")
        pages.append(
            {
                "page": name,
                "person_id": record["person_id"],
                "variant": variant,
                "segment": segment,
                "subject": record["subject"],
                "preheader": record["preheader"],
            }
        )
    samples = {"title": title, "sender": sender, "pages": pages}
    layout.preview_samples(out_dir).write_text(json.dumps(samples, indent=1), encoding="utf-8")
    return _write_preview_index(out_dir, samples)


def _write_preview_index(out_dir: Path, samples: dict) -> Path:
    title = html_lib.escape(samples["title"])
    sender = html_lib.escape(samples.get("sender", ""))
    rows = "".join(
        f"<tr><td>{html_lib.escape(p['variant'])}</td><td>{html_lib.escape(p['segment'])}</td>"
        f"<td>{sender}</td><td>{html_lib.escape(p['subject'])}</td>"
        f"<td>{html_lib.escape(p.get('preheader', ''))}</td>"
        f"<td><a href='{html_lib.escape(p['page'])}'>HTML preview</a>"
        f" · <a href='{html_lib.escape(p['page'].replace('.html', '.txt'))}'>text</a></td></tr>"
        for p in samples["pages"]
    )
    index = layout.previews_index(out_dir)
    index.write_text(
        f"<!doctype html><meta charset='utf-8'><title>{title}</title>"
        f"<h1>{title}</h1><table border='1' cellpadding='4'>"
        "<tr><th>variant</th><th>for</th><th>from</th><th>subject</th><th>preheader</th>"
        f"<th></th></tr>{rows}</table>",
        encoding="utf-8",
    )
    return index


def remove_people(exports_root: Path, people: set[str], emails: set[str]) -> int:
    """Remove the people's messages, upload lines and previews from every export; returns
    how many files changed. `emails` are normalized (trimmed, lower case)."""
    changed = 0
    for out_dir in layout.export_dirs(exports_root):
        for archive_path in layout.message_archives(out_dir):
            with zipfile.ZipFile(archive_path) as archive:
                names = archive.namelist()
                gone = [n for n in names if n.removesuffix(".eml") in people]
                kept = {n: archive.read(n) for n in names if n not in gone} if gone else {}
            if gone:
                write_atomic(archive_path, stored_zip(list(kept.items())))
                changed += 1
        parts = layout.parts_dir(out_dir)
        if parts.exists():
            # Upload lines of batches a crashed export had not appended yet; it writes them
            # again when it resumes.
            shutil.rmtree(parts)
            changed += 1
        changed += keep_upload_lines(
            out_dir,
            lambda keys: [
                person not in people and recipient.strip().lower() not in emails
                for person, recipient in keys
            ],
        )[1]
        manifest = layout.preview_samples(out_dir)
        if manifest.exists():
            samples = json.loads(manifest.read_text(encoding="utf-8"))
            gone = [p for p in samples["pages"] if p["person_id"] in people]
            for page in gone:
                (layout.previews_dir(out_dir) / page["page"]).unlink(missing_ok=True)
                text_page = page["page"].replace(".html", ".txt")
                (layout.previews_dir(out_dir) / text_page).unlink(missing_ok=True)
                changed += 1
            if gone:
                samples["pages"] = [p for p in samples["pages"] if p not in gone]
                manifest.write_text(json.dumps(samples, indent=1), encoding="utf-8")
                _write_preview_index(out_dir, samples)
    return changed
