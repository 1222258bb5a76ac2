import pytest

from orchestration.ingest.records import RecordBlocks, read_records

EXCEL = (
    b'\xef\xbb\xbfid,note\r\n1,"two\r\nlines"\r\n\r\n2,"say ""hi"", then go"\r\n'
    b"3,caf\xc3\xa9\r\n4,no line end"
)


def _records(path, block_bytes):
    blocks = RecordBlocks(path, quoted=True, block_bytes=block_bytes)
    rows = [
        (line, record if isinstance(record, bytes) else record.encode())
        for block in blocks
        for line, record in zip(
            block["line_number"].to_pylist(), block["record"].to_pylist(), strict=True
        )
    ]
    return rows, blocks.checksum


@pytest.mark.parametrize("block_bytes", [1, 2, 7, 64, 1 << 20])
def test_records_keep_their_bytes_and_first_line_at_any_block_size(tmp_path, block_bytes):
    path = tmp_path / "excel.csv"
    path.write_bytes(EXCEL)
    rows, checksum = _records(path, block_bytes)
    assert rows == [
        (1, b"id,note\r\n"),
        (2, b'1,"two\r\nlines"\r\n'),
        (5, b'2,"say ""hi"", then go"\r\n'),
        (6, b"3,caf\xc3\xa9\r\n"),
        (7, b"4,no line end"),
    ]
    assert checksum == _records(path, 1 << 20)[1]


def test_an_unclosed_quote_runs_to_the_end_of_the_file_as_one_record(tmp_path):
    path = tmp_path / "broken.csv"
    path.write_bytes(b'id,note\n1,"open\n2,b\n')
    rows, _ = _records(path, 4)
    assert rows == [(1, b"id,note\n"), (2, b'1,"open\n2,b\n')]


def test_json_lines_split_on_every_newline(tmp_path):
    path = tmp_path / "events.jsonl"
    path.write_bytes(b'{"a": "x\\ny"}\n\n{"a": "\\"q"}\r\n')
    blocks = RecordBlocks(path, quoted=False, block_bytes=3)
    rows = [r for b in blocks for r in b["record"].to_pylist()]
    assert rows == ['{"a": "x\\ny"}\n', '{"a": "\\"q"}\r\n']


def test_a_block_with_invalid_utf8_comes_as_bytes_to_find_the_bad_record(tmp_path):
    path = tmp_path / "events.jsonl"
    path.write_bytes(b'{"a": "ok"}\n{"a": "\xff"}\n')
    blocks = list(RecordBlocks(path, quoted=False))
    assert blocks[0]["record"].to_pylist() == [b'{"a": "ok"}\n', b'{"a": "\xff"}\n']


@pytest.mark.parametrize("block_bytes", [1, 7, 1 << 20])
def test_each_record_knows_where_its_bytes_are_in_the_file(tmp_path, block_bytes):
    path = tmp_path / "excel.csv"
    path.write_bytes(EXCEL)
    blocks = list(RecordBlocks(path, quoted=True, block_bytes=block_bytes))
    places = [
        (at, size)
        for block in blocks
        for at, size in zip(
            block["record_at"].to_pylist(), block["record_bytes"].to_pylist(), strict=True
        )
    ]
    assert read_records(path, places) == [record for _, record in _records(path, block_bytes)[0]]
