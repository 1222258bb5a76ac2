import csv
import io
import stat
import zipfile

import pytest

from email_render import export, layout
from email_render.export import (
    CSV_COLUMNS,
    Rendered,
    Upload,
    keep_upload_lines,
    stored_zip,
    write_batch,
)


def _send(person_id: str, subject: str = "Hi") -> Rendered:
    record = {c: f"{c}-{person_id}" for c in CSV_COLUMNS if c != "eml_file"}
    record.update(person_id=person_id, recipient=f"{person_id}@example.com", subject=subject)
    record.update(html="<p>x</p>", text="x")
    return Rendered(record, f"Subject: {subject}\r\n\r\nbody".encode())


def _upload_people(out_dir):
    jsonl = [line for line in (out_dir / "sends.jsonl").read_text().splitlines() if line]
    rows = list(csv.DictReader(io.StringIO((out_dir / "sends.csv").read_text())))
    return [line.split('"person_id":"')[1].split('"')[0] for line in jsonl], rows


def test_batches_reach_the_upload_in_batch_order_and_leave_no_part_files(tmp_path):
    upload = Upload(tmp_path)
    upload.open(lambda people: [True] * len(people))
    batches = {0: ["p1", "p2"], 1: ["p3"], 2: ["p4", "p5"]}
    for batch_no, people in batches.items():
        write_batch(tmp_path, batch_no, [_send(p) for p in people])
    for batch_no in sorted(batches):
        upload.append_batch(batch_no)
    upload.close()
    in_jsonl, rows = _upload_people(tmp_path)
    assert in_jsonl == [r["person_id"] for r in rows] == ["p1", "p2", "p3", "p4", "p5"]
    assert rows[3]["eml_file"] == "eml/batch-000002.zip/p4.eml"
    with zipfile.ZipFile(tmp_path / "eml" / "batch-000002.zip") as archive:
        assert archive.read("p4.eml").startswith(b"Subject: Hi")
    assert not (tmp_path / "parts").exists()


def test_reopening_keeps_only_committed_lines_and_drops_stale_part_files(tmp_path):
    upload = Upload(tmp_path)
    upload.open(lambda people: [True] * len(people))
    write_batch(tmp_path, 0, [_send("p1"), _send("p2")])
    upload.append_batch(0)
    upload.close()
    write_batch(tmp_path, 1, [_send("p3")])  # a crash before this batch was appended
    asked = []

    def committed(people):
        asked.append(len(people))
        return [p == "p1" for p in people]

    assert Upload(tmp_path).open(committed) == 1
    assert _upload_people(tmp_path)[0] == ["p1"]
    assert not layout.upload_parts(tmp_path, 1)[0].exists()


def test_filtering_the_upload_streams_in_chunks_and_keeps_awkward_csv_fields(tmp_path):
    upload = Upload(tmp_path)
    upload.open(lambda people: [True] * len(people))
    people = [f"p{i}" for i in range(25)]
    write_batch(tmp_path, 0, [_send(p, subject='two\nlines, "quoted"') for p in people])
    upload.append_batch(0)
    upload.close()
    chunks = []

    def keep(keys):
        chunks.append(len(keys))
        return [int(person[1:]) % 2 == 0 for person, _ in keys]

    kept, changed = keep_upload_lines(tmp_path, keep, chunk=10)
    assert (kept, changed) == (13, 2)
    assert max(chunks) == 10
    in_jsonl, rows = _upload_people(tmp_path)
    assert in_jsonl == [r["person_id"] for r in rows] == people[::2]
    assert rows[0]["subject"] == 'two\nlines, "quoted"'
    assert not list(tmp_path.glob("*.partial"))


def test_an_upload_nobody_left_is_not_rewritten(tmp_path):
    upload = Upload(tmp_path)
    upload.open(lambda people: [True] * len(people))
    write_batch(tmp_path, 0, [_send("p1")])
    upload.append_batch(0)
    upload.close()
    before = (tmp_path / "sends.jsonl").stat().st_mtime_ns
    assert keep_upload_lines(tmp_path, lambda keys: [True] * len(keys)) == (1, 0)
    assert (tmp_path / "sends.jsonl").stat().st_mtime_ns == before


@pytest.mark.parametrize("classic_format", [True, False], ids=["own writer", "zipfile, ZIP64"])
def test_message_archives_read_back_whole_with_private_modes(classic_format, monkeypatch):
    if not classic_format:
        monkeypatch.setattr(export, "_MAX_ENTRIES", 1)
    entries = [
        ("p1.eml", b"Subject: a\r\n\r\nbody"),
        ("zoë-2.eml", b""),
        ("p3.eml", bytes(range(256)) * 40),
    ]
    with zipfile.ZipFile(io.BytesIO(stored_zip(entries))) as archive:
        assert archive.testzip() is None  # every CRC matches
        assert [(i.filename, archive.read(i)) for i in archive.infolist()] == entries
        for info in archive.infolist():
            assert info.compress_type == zipfile.ZIP_STORED
            assert stat.S_IMODE(info.external_attr >> 16) == 0o600


def _page(person_id: str, name: str) -> dict:
    return {
        "person_id": person_id,
        "subject": f"For {name}",
        "preheader": "",
        "html": f"Hi {name}",
        "text": f"Hi {name}, in plain text",
    }


def test_removing_a_person_scrubs_their_messages_upload_lines_and_previews(tmp_path):
    run = tmp_path / "weekly-picks" / "2026-10-31"
    (run / "eml").mkdir(parents=True)
    with zipfile.ZipFile(run / "eml" / "batch-000000.zip", "w") as archive:
        archive.writestr("p1.eml", "To: ann@example.com")
        archive.writestr("p2.eml", "To: bob@example.com")
    (run / "sends.jsonl").write_text(
        '{"person_id": "p1", "recipient": "ann@example.com"}\n'
        '{"person_id": "p2", "recipient": "bob@example.com"}\n'
    )
    (run / "sends.csv").write_text(
        "campaign_id,person_id,recipient\nweekly,p1,ann@example.com\nweekly,p2,bob@example.com\n"
    )
    export.write_previews(
        run,
        "Weekly picks",
        [
            ("a", "new", _page("p1", "Ann")),
            ("a", "vip", _page("p2", "Bob")),
        ],
    )
    changed = export.remove_people(tmp_path, {"p1"}, {"ann@example.com"})
    assert changed == 4
    with zipfile.ZipFile(run / "eml" / "batch-000000.zip") as archive:
        assert archive.namelist() == ["p2.eml"]
    remaining = "".join(p.read_text(errors="ignore") for p in tmp_path.rglob("*") if p.is_file())
    assert "ann@example.com" not in remaining and "Ann" not in remaining
    assert "p1" not in remaining
    assert "bob@example.com" in (run / "sends.jsonl").read_text()
    assert oct((run / "sends.csv").stat().st_mode & 0o777) == "0o600"

    index = (run / "previews" / "index.html").read_text()
    assert "For Bob" in index and "For Ann" not in index


@pytest.mark.parametrize(
    "subject", ['=HYPERLINK("http://x")', "+cmd|' /C calc'!A0", "@SUM(1)", "-2+3", "\tTAB"]
)
def test_a_formula_in_a_persons_data_opens_as_text_in_the_upload_csv(tmp_path, subject):
    Upload(tmp_path).open(lambda people: [True] * len(people))
    write_batch(tmp_path, 0, [_send("p1", subject=subject)])
    _, part = layout.upload_parts(tmp_path, 0)
    row = next(csv.reader(io.StringIO(part.read_text())))
    cell = row[CSV_COLUMNS.index("subject")]
    assert cell == "'" + subject  # a leading quote: spreadsheets show it as text
    jsonl, _ = layout.upload_parts(tmp_path, 0)
    assert subject in jsonl.read_text().encode().decode("unicode_escape")  # JSON keeps the data
