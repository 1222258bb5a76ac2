"""Landing-file text built in bulk: ids, timestamps and CSV or JSON lines as Arrow strings.

A million customers make about 45 million landing rows. Formatting them one Python call at a
time (f-strings, `strftime`, `to_csv`, `to_json`) was most of the generator's time, so fixed
-width fields are written as byte matrices with numpy and columns are joined with Arrow's
kernels. A field the generator writes never holds a comma, quote or line break, so a CSV line
needs no quoting; JSON strings are still escaped.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc

_NS_PER_S = 1_000_000_000


def _from_ragged(chars: np.ndarray, lengths: np.ndarray) -> pa.StringArray:
    """Strings from the first `lengths[i]` bytes of each row of a byte matrix."""
    n, width = chars.shape
    if (lengths == width).all():
        data = np.ascontiguousarray(chars).reshape(-1)
    else:
        data = chars[np.arange(width)[None, :] < lengths[:, None]]
    offsets = np.zeros(n + 1, dtype=np.int64)
    np.cumsum(lengths, out=offsets[1:])
    return pa.LargeStringArray.from_buffers(
        n, pa.py_buffer(offsets), pa.py_buffer(np.ascontiguousarray(data))
    ).cast(pa.string())


_GROUPS = np.frombuffer(b"".join(b"%04d" % i for i in range(10_000)), dtype=np.uint32)
_HEX_PAIRS = np.frombuffer(b"".join(b"%02x" % i for i in range(256)), dtype=np.uint16)


def _digits(values: np.ndarray, width: int) -> np.ndarray:
    """Zero-padded decimal digits as a byte matrix, four at a time from a table."""
    groups = -(-width // 4)
    rest = np.asarray(values, dtype=np.int64).copy()
    out = np.empty((len(rest), groups), dtype=np.uint32)
    for g in range(groups - 1, -1, -1):
        out[:, g] = _GROUPS[rest % 10_000]
        rest //= 10_000
    return out.view(np.uint8).reshape(len(rest), 4 * groups)[:, 4 * groups - width :]


def _prefixed(prefix: str, body: np.ndarray) -> pa.StringArray:
    head = np.frombuffer(prefix.encode(), dtype=np.uint8)
    chars = np.empty((len(body), len(head) + body.shape[1]), dtype=np.uint8)
    chars[:, : len(head)] = head
    chars[:, len(head) :] = body
    return _from_ragged(chars, np.full(len(body), chars.shape[1]))


def numbered(prefix: str, numbers: np.ndarray, width: int) -> pa.StringArray:
    """`prefix` and each number zero-padded to `width` digits, widened to fit the largest."""
    numbers = np.asarray(numbers, dtype=np.int64)
    if len(numbers):
        width = max(width, len(str(int(numbers.max()))))
    return _prefixed(prefix, _digits(numbers, width))


def hex_ids(prefix: str, values: np.ndarray, width: int) -> pa.StringArray:
    """`prefix` and each value in lower-case hex, zero-padded to `width` digits."""
    values = np.asarray(values, dtype=np.uint64)
    if len(values):
        width = max(width, len(f"{int(values.max()):x}"))
    pairs = _HEX_PAIRS[values.astype(">u8").view(np.uint8).reshape(-1, 8)]
    chars = pairs.view(np.uint8).reshape(len(values), 16)[:, 16 - width :]
    return _prefixed(prefix, chars)


def _civil(ts: np.ndarray):
    """Year, month, day, hour, minute, second and microsecond of UTC datetime64 values."""
    ns = ts.astype("datetime64[ns]").astype(np.int64)
    seconds = ns // _NS_PER_S
    micros = (ns % _NS_PER_S) // 1000
    days = seconds // 86_400
    second_of_day = seconds % 86_400
    # Howard Hinnant's civil_from_days, in whole arrays.
    z = days + 719_468
    era = z // 146_097
    doe = z - era * 146_097
    yoe = (doe - doe // 1460 + doe // 36_524 - doe // 146_096) // 365
    doy = doe - (365 * yoe + yoe // 4 - yoe // 100)
    mp = (5 * doy + 2) // 153
    day = doy - (153 * mp + 2) // 5 + 1
    month = np.where(mp < 10, mp + 3, mp - 9)
    year = yoe + era * 400 + (month <= 2)
    return (
        year,
        month,
        day,
        second_of_day // 3600,
        second_of_day // 60 % 60,
        second_of_day % 60,
        micros,
    )


def month_codes(ts: np.ndarray) -> np.ndarray:
    """year * 12 + month - 1 of each timestamp: a sortable key for monthly files."""
    year, month, *_ = _civil(np.asarray(ts))
    return year * 12 + month - 1


def month_name(code: int) -> str:
    return f"{code // 12:04d}-{code % 12 + 1:02d}"


def _date_rows(days: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """`YYYY-MM-DD` of every day from the smallest of `days` to the largest, and the smallest."""
    first = int(days.min()) if len(days) else 0
    span = np.arange(first, (int(days.max()) if len(days) else 0) + 1, dtype=np.int64)
    year, month, day, *_ = _civil(span.astype("datetime64[D]"))
    rows = np.empty((len(span), 10), dtype=np.uint8)
    rows[:, 0:4] = _digits(year, 4)
    rows[:, 4] = rows[:, 7] = ord("-")
    rows[:, 5:7] = _digits(month, 2)
    rows[:, 8:10] = _digits(day, 2)
    return rows, first


def _clock_rows() -> np.ndarray:
    """`HH:MM:SS` of every second of a day."""
    second = np.arange(86_400)
    rows = np.empty((86_400, 8), dtype=np.uint8)
    rows[:, 0:2] = _digits(second // 3600, 2)
    rows[:, 2] = rows[:, 5] = ord(":")
    rows[:, 3:5] = _digits(second // 60 % 60, 2)
    rows[:, 6:8] = _digits(second % 60, 2)
    return rows


_CLOCK: list[np.ndarray] = []


def timestamps(ts: np.ndarray, separator: np.ndarray | str = "T", suffix=("Z",), which=None):
    """`YYYY-MM-DD?HH:MM:SS` and a suffix per row: `suffix[which[i]]` (or the only suffix).

    `separator` is the date-time separator: a character, or one byte per row. A suffix that
    starts with ".%f" writes the microseconds first. Days and seconds of the day are looked
    up in tables, so a row costs a few copies, not a calendar computation."""
    if not _CLOCK:
        _CLOCK.append(_clock_rows())
    ns = np.asarray(ts).astype("datetime64[ns]").astype(np.int64)
    n = len(ns)
    seconds = ns // _NS_PER_S
    days = seconds // 86_400
    date_rows, first_day = _date_rows(days)
    tails = [t.encode() for t in suffix]
    micro = [t.startswith(b".%f") for t in tails]
    tails = [b"." + b"0" * 6 + t[3:] if m else t for t, m in zip(tails, micro, strict=True)]
    width = 19 + max(len(t) for t in tails)
    chars = np.empty((n, width), dtype=np.uint8)
    chars[:, 0:10] = date_rows[days - first_day]
    if isinstance(separator, str):
        chars[:, 10] = ord(separator)
    else:
        chars[:, 10] = separator
    chars[:, 11:19] = _CLOCK[0][seconds - days * 86_400]
    tail_rows = np.zeros((len(tails), width - 19), dtype=np.uint8)
    for k, t in enumerate(tails):
        tail_rows[k, : len(t)] = np.frombuffer(t, dtype=np.uint8)
    lengths = np.array([19 + len(t) for t in tails])
    if which is None:
        chars[:, 19:] = tail_rows[0]
        which = np.zeros(n, dtype=np.intp)
    else:
        which = np.asarray(which, dtype=np.intp)
        chars[:, 19:] = tail_rows[which]
    if any(micro):
        rows = np.isin(which, np.flatnonzero(micro))
        chars[rows, 20:26] = _digits((ns[rows] % _NS_PER_S) // 1000, 6)
    return _from_ragged(chars, lengths[which])


def dates(ts: np.ndarray) -> pa.StringArray:
    """`YYYY-MM-DD` of each timestamp."""
    days = np.asarray(ts).astype("datetime64[D]").astype(np.int64)
    date_rows, first_day = _date_rows(days)
    return _from_ragged(date_rows[days - first_day], np.full(len(days), 10))


def as_text(values) -> pa.Array:
    """Any column as Arrow strings the way pandas writes it to CSV: floats keep a `.0`,
    missing values are null."""
    if isinstance(values, pa.ChunkedArray):
        values = values.combine_chunks()
    if not isinstance(values, pa.Array):
        if isinstance(values, pd.Series):
            values = values.array if values.dtype != object else values.to_numpy()
        values = pa.array(values, from_pandas=True)
    if pa.types.is_string(values.type) or pa.types.is_large_string(values.type):
        return values.cast(pa.string())
    if pa.types.is_null(values.type):
        return pa.nulls(len(values), pa.string())
    text = values.cast(pa.string())
    if pa.types.is_floating(values.type):
        whole = pc.invert(pc.match_substring_regex(text, r"[.en]"))
        text = pc.if_else(whole, pc.binary_join_element_wise(text, ".0", ""), text)
    return text


def csv_lines(columns: list) -> pa.StringArray:
    """One unquoted CSV line per row, each ending in a newline; a null is an empty field."""
    fields = [as_text(c) for c in columns]
    joined = pc.binary_join_element_wise(*fields, ",", null_handling="replace", null_replacement="")
    return pc.binary_join_element_wise(joined, "\n", "")


def _json_escaped(text: pa.Array) -> pa.Array:
    data = text.buffers()[2]
    chars = np.frombuffer(data, dtype=np.uint8) if data is not None else np.zeros(0, np.uint8)
    for char, escaped in (("\\", "\\\\"), ('"', '\\"')):
        # A scan of the bytes is much cheaper than the replace it usually avoids.
        if (chars == ord(char)).any():
            text = pc.replace_substring(text, char, escaped)
    return text


def json_lines(columns: dict, numbers: frozenset = frozenset()) -> pa.StringArray:
    """One JSON object per row and line, keys in the order given; null for a missing value.
    Columns named in `numbers` are written as JSON numbers."""
    pieces: list = []
    literal = ""
    for i, (name, values) in enumerate(columns.items()):
        literal += ("{" if i == 0 else ",") + f'"{name}":'
        value = as_text(values)
        if name in numbers:
            pieces += [literal, pc.fill_null(value, "null")]
            literal = ""
        elif value.null_count == 0:
            # Quotes go into the literals around a column that has no nulls: one pass fewer.
            pieces += [literal + '"', _json_escaped(value)]
            literal = '"'
        else:
            quoted = pc.binary_join_element_wise('"', _json_escaped(value), '"', "")
            pieces += [literal, pc.fill_null(quoted, "null")]
            literal = ""
    pieces.append(literal + "}\n")
    return pc.binary_join_element_wise(*pieces, "")


def replace_rows(lines: pa.StringArray, rows: np.ndarray, new: list[str]) -> pa.StringArray:
    """`lines` with the lines at `rows` replaced by `new`."""
    if not len(rows):
        return lines
    rows = np.asarray(rows, dtype=np.int64)
    order = np.argsort(rows, kind="stable")
    source = np.arange(len(lines), dtype=np.int64)
    source[rows[order]] = len(lines) + np.arange(len(rows))
    replacement = pa.array(np.asarray(new, dtype=object)[order], type=pa.string())
    return pa.concat_arrays([lines.cast(pa.string()), replacement]).take(pa.array(source))


def grouped_bytes(lines: pa.StringArray, keys: np.ndarray, replaced=None):
    """The bytes of `lines` grouped by `keys` (rows keep their order within a group):
    yields (key, bytes, row positions). `replaced` is (rows, new lines) to put in place of
    those rows; doing it in the same take spares a copy of every line."""
    keys = np.asarray(keys)
    order = np.argsort(keys, kind="stable")
    source = order
    if replaced is not None and len(replaced[0]):
        rows, new = replaced
        substitute = np.arange(len(lines), dtype=np.int64)
        substitute[np.asarray(rows)] = len(lines) + np.arange(len(rows))
        source = substitute[order]
        if not isinstance(new, pa.Array):
            new = pa.array(list(new), type=pa.string())
        lines = pa.concat_arrays([lines.cast(pa.string()), new.cast(pa.string())])
    sorted_lines = lines.take(pa.array(source))
    offset_type = np.int64 if pa.types.is_large_string(sorted_lines.type) else np.int32
    offsets = np.frombuffer(sorted_lines.buffers()[1], dtype=offset_type)[
        sorted_lines.offset : sorted_lines.offset + len(sorted_lines) + 1
    ]
    data = sorted_lines.buffers()[2]
    sorted_keys = keys[order]
    bounds = np.flatnonzero(np.r_[True, sorted_keys[1:] != sorted_keys[:-1], True])
    for start, stop in zip(bounds[:-1], bounds[1:], strict=True):
        chunk = data[int(offsets[start]) : int(offsets[stop])] if data is not None else b""
        yield sorted_keys[start], bytes(chunk), order[start:stop]
