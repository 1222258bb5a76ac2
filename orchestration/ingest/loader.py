"""Load landing files into the warehouse's `raw` schema, accounting for every row.

For each landing file the loader records in `raw.load_audit` how many rows it received,
loaded, quarantined and dropped as belonging to an erased person (received = loaded +
quarantined + erased), and it keeps every rejected row in
`raw.quarantine` with its raw text, file, line and reason. Loads are incremental by file: a
file whose checksum was already loaded is skipped, so reloading changes nothing. Each file
loads in one transaction: a crash leaves either all of it or none of it.
"""

from __future__ import annotations

import csv
import hashlib
import json
import re
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from email.utils import parsedate_to_datetime
from pathlib import Path

import duckdb
import pandas as pd

from orchestration import settings
from orchestration.ingest.landing import (
    EMAIL_PATTERN,
    LANDING_TABLES,
    LandingTable,
    reference_values,
)
from orchestration.ingest.raw_schema import RAW_SCHEMA, ensure_raw_schema
from orchestration.privacy import load_filter

CHUNK_ROWS = 250_000
FUTURE_TOLERANCE = timedelta(days=1)
EPOCH = re.compile(r"^\d{10}(\d{3})?$")
TRUE_WORDS = {"true", "t", "yes", "y", "1"}
FALSE_WORDS = {"false", "f", "no", "n", "0"}


class LandingFileError(Exception):
    """A landing file that cannot be loaded at all; nothing of it was loaded."""


@dataclass
class FileLoad:
    file: str
    checksum: str
    rows_received: int = 0
    rows_loaded: int = 0
    rows_quarantined: int = 0
    rows_erased: int = 0
    status: str = "loaded"
    error: str | None = None
    unexpected_columns: list[str] = field(default_factory=list)
    reasons: dict[str, int] = field(default_factory=dict)


@dataclass
class TableLoad:
    table: str
    loaded_at: datetime
    files: list[FileLoad] = field(default_factory=list)
    skipped_files: list[str] = field(default_factory=list)

    @property
    def failed(self) -> list[FileLoad]:
        return [f for f in self.files if f.status == "failed"]

    def total(self, attribute: str) -> int:
        return sum(getattr(f, attribute) for f in self.files)


def landing_files(landing_dir: Path, table: LandingTable) -> list[Path]:
    folder = landing_dir / table.source
    return sorted(folder.glob(table.pattern)) if folder.is_dir() else []


def load_table(
    conn: duckdb.DuckDBPyConnection,
    table: LandingTable,
    landing_dir: Path,
    now: datetime | None = None,
) -> TableLoad:
    """Load every new landing file of `table`; already-loaded checksums are skipped."""
    ensure_raw_schema(conn)
    now = now or datetime.now(UTC).replace(tzinfo=None)
    result = TableLoad(table.name, now)
    loaded = {
        row[0]
        for row in conn.execute(
            f"select checksum from {RAW_SCHEMA}.load_audit where source_table = ? and status = 'loaded'",
            [table.name],
        ).fetchall()
    }
    for path in landing_files(landing_dir, table):
        checksum = _sha256(path)
        name = str(path.relative_to(landing_dir))
        if checksum in loaded:
            result.skipped_files.append(name)
            continue
        file_load = FileLoad(file=name, checksum=checksum)
        conn.execute("begin transaction")
        try:
            _load_file(conn, table, path, file_load, now)
        except LandingFileError as exc:
            conn.execute("rollback")
            file_load.status = "failed"
            file_load.error = str(exc)
            file_load.rows_loaded = file_load.rows_quarantined = 0
            conn.execute("begin transaction")
        except BaseException:
            conn.execute("rollback")
            raise
        _record_audit(conn, table, path, file_load, now)
        conn.execute("commit")
        result.files.append(file_load)
        if file_load.status == "loaded":
            loaded.add(checksum)
    return result


def _sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as fh:
        for block in iter(lambda: fh.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def _record_audit(conn, table: LandingTable, path: Path, f: FileLoad, now: datetime) -> None:
    conn.execute(
        f"insert into {RAW_SCHEMA}.load_audit values (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
        [
            table.name,
            f.file,
            f.checksum,
            path.stat().st_size,
            f.rows_received,
            f.rows_loaded,
            f.rows_quarantined,
            f.status,
            f.error,
            ",".join(f.unexpected_columns) or None,
            now,
            f.rows_erased,
        ],
    )


def _load_file(conn, table: LandingTable, path: Path, f: FileLoad, now: datetime) -> None:
    reader = _read_csv if table.format == "csv" else _read_jsonl
    for chunk, malformed in reader(path, table, f):
        f.rows_received += len(chunk) + len(malformed)
        rejected = (
            [pd.DataFrame(malformed, columns=["_source_line", "reason", "_raw"])]
            if malformed
            else []
        )
        valid, invalid = _validate(chunk, table, now)
        rejected.append(invalid)
        valid, erased = load_filter.split_erased(conn, table.name, valid)
        f.rows_erased += erased
        valid, duplicates = _split_duplicates(conn, table, valid)
        rejected.append(duplicates)
        _insert_rows(conn, table, valid, f.file, now)
        f.rows_loaded += len(valid)
        for frame in rejected:
            frame, erased = load_filter.drop_erased_rejects(conn, frame)
            f.rows_erased += erased
            _quarantine(conn, table, frame, f, now)


def _decode_lines(path: Path) -> tuple[list[str], set[int]]:
    """The file's lines, and the numbers of those that are not valid UTF-8 (kept as repr)."""
    data = path.read_bytes()
    try:
        return data.decode("utf-8").splitlines(), set()
    except UnicodeDecodeError:
        pass
    lines, bad = [], set()
    for number, raw in enumerate(data.splitlines(), start=1):
        try:
            lines.append(raw.decode("utf-8"))
        except UnicodeDecodeError:
            lines.append(repr(raw)[2:-1])
            bad.add(number)
    return lines, bad


def _read_csv(path: Path, table: LandingTable, f: FileLoad) -> Iterator[tuple[pd.DataFrame, list]]:
    lines, undecodable = _decode_lines(path)
    if not lines:
        yield pd.DataFrame(columns=[*table.column_names, "_source_line", "_raw"]), []
        return
    header = next(csv.reader([lines[0]]))
    header = [h.strip() for h in header]
    _check_columns(path, table, header, f)
    wanted = [header.index(c) if c in header else None for c in table.column_names]
    reader = csv.reader(lines)
    next(reader)
    rows, line_numbers, raws, malformed = [], [], [], []
    previous_end = 1
    for record in reader:
        start, end = previous_end + 1, reader.line_num
        previous_end = end
        raw = "\n".join(lines[start - 1 : end])
        if undecodable.intersection(range(start, end + 1)):
            malformed.append((start, "invalid UTF-8 encoding", raw))
        elif len(record) != len(header):
            malformed.append(
                (start, f"malformed line: expected {len(header)} fields, found {len(record)}", raw)
            )
        else:
            rows.append([record[i] if i is not None else "" for i in wanted])
            line_numbers.append(start)
            raws.append(raw)
        if len(rows) + len(malformed) >= CHUNK_ROWS:
            yield _frame(rows, line_numbers, raws, table), malformed
            rows, line_numbers, raws, malformed = [], [], [], []
    yield _frame(rows, line_numbers, raws, table), malformed


def _read_jsonl(
    path: Path, table: LandingTable, f: FileLoad
) -> Iterator[tuple[pd.DataFrame, list]]:
    names = table.column_names
    seen_keys: set[str] = set()
    rows, line_numbers, raws, malformed = [], [], [], []
    lines, undecodable = _decode_lines(path)
    for number, line in enumerate(lines, start=1):
        if not line.strip():
            continue
        if number in undecodable:
            malformed.append((number, "invalid UTF-8 encoding", line))
            continue
        try:
            obj = json.loads(line)
        except json.JSONDecodeError as exc:
            malformed.append((number, f"malformed JSON: {exc.msg} at column {exc.colno}", line))
            continue
        if not isinstance(obj, dict):
            malformed.append((number, "malformed JSON: a line must hold one object", line))
            continue
        seen_keys.update(obj.keys())
        rows.append([_text(obj.get(name)) for name in names])
        line_numbers.append(number)
        raws.append(line)
        if len(rows) + len(malformed) >= CHUNK_ROWS:
            yield _frame(rows, line_numbers, raws, table), malformed
            rows, line_numbers, raws, malformed = [], [], [], []
    f.unexpected_columns = sorted(seen_keys - set(names))
    yield _frame(rows, line_numbers, raws, table), malformed


def _text(value) -> str:
    if value is None:
        return ""
    if isinstance(value, bool):
        return "true" if value else "false"
    return str(value)


def _check_columns(path: Path, table: LandingTable, header: list[str], f: FileLoad) -> None:
    missing = [c for c in table.required_columns if c not in header]
    if missing:
        raise LandingFileError(
            f"{path}: missing required column{'s' if len(missing) > 1 else ''} "
            f"{', '.join(missing)}; nothing of this file was loaded"
        )
    f.unexpected_columns = [h for h in header if h not in table.column_names]


def _frame(rows: list, line_numbers: list, raws: list, table: LandingTable) -> pd.DataFrame:
    frame = pd.DataFrame(rows, columns=table.column_names, dtype=object)
    frame["_source_line"] = line_numbers
    frame["_raw"] = raws
    return frame


def _validate(
    chunk: pd.DataFrame, table: LandingTable, now: datetime
) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Parse every column by its contract type; a row with any failure goes to quarantine with
    every reason, naming the field and the value."""
    reasons = pd.Series([""] * len(chunk), index=chunk.index, dtype=object)

    def flag(mask: pd.Series, message) -> None:
        if mask.any():
            text = message if isinstance(message, str) else message[mask]
            reasons[mask] = reasons[mask] + "; " + text

    out = pd.DataFrame(index=chunk.index)
    for column in table.columns:
        raw = chunk[column.name].astype(object)
        empty = raw.isna() | (raw.astype(str).str.strip() == "")
        if column.required:
            flag(empty, f"missing required field {column.name}")
        if column.type == "string":
            value = raw.where(~empty, None)
        elif column.type in ("timestamp", "date"):
            text = raw.where(~empty, None).astype(str).str.strip()
            value = _parse_timestamps(text) if column.type == "timestamp" else _parse_dates(text)
            flag(
                ~empty & value.isna(),
                "wrong type for " + column.name + f" ({column.type}): " + raw.astype(str),
            )
            future = value > pd.Timestamp(now + FUTURE_TOLERANCE)
            flag(
                future.fillna(False),
                "timestamp in the future for " + column.name + ": " + raw.astype(str),
            )
            if column.type == "date":
                value = value.dt.date
        elif column.type in ("decimal", "integer"):
            value = pd.to_numeric(raw.where(~empty, None), errors="coerce")
            bad = ~empty & value.isna()
            if column.type == "integer":
                bad |= ~empty & value.notna() & (value % 1 != 0)
                value = value.where(~bad).astype("Int64")
            flag(bad, "wrong type for " + column.name + f" ({column.type}): " + raw.astype(str))
        else:  # boolean
            words = raw.astype(str).str.strip().str.lower()
            value = pd.Series(pd.NA, index=chunk.index, dtype="boolean")
            value[words.isin(TRUE_WORDS)] = True
            value[words.isin(FALSE_WORDS)] = False
            flag(
                ~empty & value.isna(),
                "wrong type for " + column.name + " (boolean): " + raw.astype(str),
            )
        if column.format == "email":
            normalized = raw.astype(str).str.strip().str.lower()
            invalid = ~empty & ~normalized.str.match(EMAIL_PATTERN)
            flag(invalid, "invalid email for " + column.name + ": " + raw.astype(str))
        if column.reference is not None:
            known = reference_values(column.reference, settings.dbt_project_dir() / "seeds")
            unknown = ~empty & ~raw.astype(str).str.strip().str.upper().isin(known)
            flag(unknown, "unknown value for " + column.name + ": " + raw.astype(str))
        if column.allowed is not None:
            unknown = ~empty & ~raw.astype(str).str.strip().isin(column.allowed)
            flag(unknown, "unknown value for " + column.name + ": " + raw.astype(str))
            value = (
                raw.where(~empty, None).astype(object).str.strip()
                if column.type == "string"
                else value
            )
        out[column.name] = value
    out["_source_line"] = chunk["_source_line"]
    out["_raw"] = chunk["_raw"]
    bad = reasons != ""
    invalid = pd.DataFrame(
        {
            "_source_line": chunk.loc[bad, "_source_line"],
            "reason": reasons[bad].str[2:],
            "_raw": chunk.loc[bad, "_raw"],
        }
    )
    return out[~bad], invalid


def _parse_dates(text: pd.Series) -> pd.Series:
    return pd.to_datetime(text, format="%Y-%m-%d", errors="coerce")


def _parse_timestamps(text: pd.Series) -> pd.Series:
    """UTC from an explicit list of formats, never a guess: ISO 8601 with `Z`, an offset or
    none (UTC); epoch seconds or milliseconds; RFC 2822 (`Tue, 03 Mar 2026 10:00:00 +0100`).
    Ambiguous forms such as 03/04/2026 are rejected as a wrong type."""
    iso = pd.to_datetime(text, format="ISO8601", utc=True, errors="coerce")
    rest = iso.isna() & text.notna() & (text != "None")
    if rest.any():
        epoch = text[rest].str.fullmatch(EPOCH.pattern).fillna(False)
        numbers = pd.to_numeric(text[rest][epoch], errors="coerce")
        seconds = numbers.where(numbers < 1e11, numbers / 1000)
        iso.loc[seconds.index] = pd.to_datetime(seconds, unit="s", utc=True)
        for index in text[rest][~epoch].index:
            try:
                iso.loc[index] = pd.Timestamp(parsedate_to_datetime(text[index])).tz_convert("UTC")
            except (TypeError, ValueError, IndexError):
                continue
    return iso.dt.tz_localize(None)


def _split_duplicates(
    conn, table: LandingTable, valid: pd.DataFrame
) -> tuple[pd.DataFrame, pd.DataFrame]:
    """A key seen earlier in this file, or already in the raw table, is a duplicate id."""
    if valid.empty or not table.key:
        return valid, pd.DataFrame(columns=["_source_line", "reason", "_raw"])
    key_frame = valid[list(table.key)].astype(str).reset_index(drop=True)
    key_frame["_position"] = range(len(key_frame))
    conn.register("_incoming_keys", key_frame)
    join = " and ".join(f"cast(t.{k} as varchar) = i.{k}" for k in table.key)
    partition = ", ".join(table.key)
    duplicated = conn.execute(
        f"""
        select _position from (
            select _position, row_number() over (partition by {partition} order by _position) as n
            from _incoming_keys
        ) where n > 1
        union
        select i._position from _incoming_keys as i
        where exists (select 1 from {RAW_SCHEMA}.{table.name} as t where {join})
        """
    ).fetchall()
    conn.unregister("_incoming_keys")
    is_dup = pd.Series(False, index=valid.index)
    if duplicated:
        is_dup.iloc[[row[0] for row in duplicated]] = True
    dup_keys = valid.loc[is_dup, list(table.key)].astype(str)
    key_text = dup_keys.iloc[:, 0].str.cat(dup_keys.iloc[:, 1:], sep="/") if len(dup_keys) else ""
    dups = pd.DataFrame(
        {
            "_source_line": valid.loc[is_dup, "_source_line"],
            "reason": "duplicate id " + "/".join(table.key) + ": " + key_text,
            "_raw": valid.loc[is_dup, "_raw"],
        }
    )
    return valid[~is_dup], dups


def _insert_rows(
    conn, table: LandingTable, valid: pd.DataFrame, file_name: str, now: datetime
) -> None:
    if valid.empty:
        return
    frame = valid.drop(columns=["_raw"]).copy()
    frame["_source_file"] = file_name
    frame["_loaded_at"] = now
    conn.register("_incoming_rows", frame)
    columns = ", ".join([*table.column_names, "_source_file", "_source_line", "_loaded_at"])
    conn.execute(
        f"insert into {RAW_SCHEMA}.{table.name} ({columns}) select {columns} from _incoming_rows"
    )
    conn.unregister("_incoming_rows")


def _quarantine(
    conn, table: LandingTable, rejected: pd.DataFrame, f: FileLoad, now: datetime
) -> None:
    if rejected.empty:
        return
    frame = pd.DataFrame(
        {
            "source_table": table.name,
            "file_name": f.file,
            "line_number": rejected["_source_line"].astype("int64").to_numpy(),
            "reason": rejected["reason"].astype(str).to_numpy(),
            "raw_record": rejected["_raw"].astype(str).to_numpy(),
            "quarantined_at": now,
        }
    )
    conn.register("_rejected_rows", frame)
    conn.execute(f"insert into {RAW_SCHEMA}.quarantine select * from _rejected_rows")
    conn.unregister("_rejected_rows")
    f.rows_quarantined += len(frame)
    for reason in frame["reason"]:
        kind = reason.split(":")[0].split(" for ")[0]
        f.reasons[kind] = f.reasons.get(kind, 0) + 1


def landing_fingerprints(landing_dir: Path) -> dict[str, dict[str, str]]:
    """Per raw table, each landing file's size and modification time: cheap to read, and it
    changes when a file is added or replaced. The load itself decides by checksum."""
    fingerprints: dict[str, dict[str, str]] = {}
    for table in LANDING_TABLES:
        for path in landing_files(landing_dir, table):
            stat = path.stat()
            name = str(path.relative_to(landing_dir))
            fingerprints.setdefault(table.name, {})[name] = f"{stat.st_size}:{stat.st_mtime_ns}"
    return fingerprints
