"""Split a landing file into records, in blocks of bounded size, without decoding it in Python.

A record is a line of a JSON lines file, or a CSV record, which may span lines when a quoted
field holds a line break (RFC 4180: a newline ends a record only outside quotes, and quotes
inside a quoted field are doubled, so a newline is a record end when the number of quotes
before it is even). Each record keeps its bytes exactly, line end (`\\n` or `\\r\\n`)
included, and the number of the line it starts on. Blank records are not rows and are left out.
A UTF-8 byte-order mark at the start of the file is not part of the first record.

Blocks are Arrow tables (`line_number`; `record_at` and `record_bytes`, where the record's
bytes lie in the file, so that a few of them can be read again without reading the file;
`record`: text, or binary when a record is not valid UTF-8) over the bytes as read, which
DuckDB scans without a copy: memory is one block, whatever the file's size.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterable, Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import numpy as np
import pyarrow as pa

BLOCK_BYTES = 64 << 20
BATCH_ROWS = 16_384
BYTE_ORDER_MARK = b"\xef\xbb\xbf"
NEWLINE, CARRIAGE_RETURN, QUOTE = 10, 13, 34


class RecordBlocks:
    """Iterate a file's record blocks; `checksum` is the SHA-256 of every byte read, ready once
    the iteration has ended. Hashing runs on a worker thread (hashlib releases the GIL), so
    the file is read once."""

    def __init__(self, path: Path, *, quoted: bool, block_bytes: int | None = None) -> None:
        self.path = path
        self.quoted = quoted
        self.block_bytes = block_bytes or BLOCK_BYTES
        self.checksum: str | None = None

    def __iter__(self) -> Iterator[pa.Table]:
        digest = hashlib.sha256()
        with self.path.open("rb") as fh, ThreadPoolExecutor(max_workers=1) as hasher:
            hashing = None
            carry = b""
            next_line = 1
            at = 0  # where in the file `data` starts
            first = True
            while True:
                # The first read is long enough to hold a whole byte-order mark.
                chunk = fh.read(
                    max(self.block_bytes, len(BYTE_ORDER_MARK)) if first else self.block_bytes
                )
                # One chunk hashing while the next is read and split: never more in memory.
                if hashing is not None:
                    hashing.result()
                hashing = hasher.submit(digest.update, chunk)
                at_end = not chunk
                data = carry + chunk if carry else chunk
                if first and data.startswith(BYTE_ORDER_MARK):
                    data = data[len(BYTE_ORDER_MARK) :]
                    at = len(BYTE_ORDER_MARK)
                first = False
                block, consumed, lines = _split(data, self.quoted, at_end, next_line, at)
                if block is not None:
                    yield block
                next_line += lines
                at += consumed
                carry = data[consumed:]
                if at_end:
                    break
            hashing.result()
        self.checksum = digest.hexdigest()


def _split(data: bytes, quoted: bool, at_end: bool, first_line: int, at: int):
    """The complete records in `data` (which starts at byte `at` of the file), how many
    bytes they take and how many lines."""
    arr = np.frombuffer(data, dtype=np.uint8)
    newlines = np.flatnonzero(arr == NEWLINE)
    if quoted:
        quotes = np.flatnonzero(arr == QUOTE)
        ends = newlines[np.searchsorted(quotes, newlines) % 2 == 0]
    else:
        ends = newlines
    consumed = int(ends[-1]) + 1 if len(ends) else 0
    lines = len(newlines) if at_end else int(np.searchsorted(newlines, consumed))
    if at_end and consumed < len(arr):
        ends = np.append(ends, len(arr))  # a last record without a line end
        consumed = len(arr)
    if not len(ends):
        return None, 0, 0
    starts = np.concatenate(([0], ends[:-1] + 1))
    # Records keep their line end: copying the block to drop them would cost more than the
    # loader's trimming them in SQL.
    offsets = np.append(starts, consumed).astype(np.int64)
    content = ends - starts - (arr[np.maximum(ends - 1, 0)] == CARRIAGE_RETURN)
    block = pa.table(
        {
            "line_number": pa.array(first_line + np.searchsorted(newlines, starts), pa.int64()),
            "record_at": pa.array(at + starts, pa.int64()),
            "record_bytes": pa.array(np.diff(offsets), pa.int64()),
            "record": _records(len(starts), offsets, data),
        }
    )
    blank = content <= 0
    if blank.any():
        block = block.filter(pa.array(~blank))
    # DuckDB scans an Arrow table's batches in parallel, one batch per thread at a time.
    batches = block.to_batches(max_chunksize=BATCH_ROWS)
    return pa.Table.from_batches(batches, schema=block.schema), consumed, lines


def _records(n: int, offsets: np.ndarray, data: bytes) -> pa.Array:
    """Text when the block is valid UTF-8 (checked in Arrow, at memory speed), bytes when not,
    so that the loader can find the invalid records."""
    buffers = [None, pa.py_buffer(offsets), pa.py_buffer(data)]
    text = pa.Array.from_buffers(pa.large_string(), n, buffers)
    try:
        text.validate(full=True)
    except pa.ArrowInvalid:
        return pa.Array.from_buffers(pa.large_binary(), n, buffers)
    return text


def read_records(path: Path, places: Iterable[tuple[int, int]]) -> list[bytes]:
    """The bytes of the records at these (`record_at`, `record_bytes`) places of a file."""
    records = []
    with path.open("rb") as fh:
        for at, size in places:
            fh.seek(at)
            records.append(fh.read(size))
    return records
