"""Landing files that still name a person: the sources' own exports, which we neither own
nor rewrite. Access lists them and erasure reports them, so the operator can delete or
re-export them; meanwhile the loader keeps the erased people's rows out of every load."""

from __future__ import annotations

import csv
import json
from pathlib import Path

from orchestration.ingest.landing import LANDING_TABLES
from orchestration.ingest.loader import landing_files
from orchestration.privacy.identifiers import RAW_IDENTIFIERS, TOKEN, normalize

# Line numbers listed per file; the count is always whole.
MAX_LINES_LISTED = 20


def landing_mentions(landing_dir: Path, identifiers: dict[str, set[str]]) -> list[dict]:
    """Each landing file with a line naming one of these identifiers (by kind, plain text):
    its path under the landing folder, how many lines, the first line numbers, and which
    kinds of identifier. A line is matched on its identifier columns; one that cannot be
    parsed (a quarantined line) is matched on any token in it."""
    # An empty identifier would name every line with an empty column.
    wanted = {
        kind: {normalize(v) for v in values if normalize(v)} for kind, values in identifiers.items()
    }
    everything = set().union(*wanted.values()) if wanted else set()
    found = []
    for table in LANDING_TABLES:
        columns = RAW_IDENTIFIERS.get(table.name, ())
        for path in landing_files(landing_dir, table):
            lines, kinds = _matching_lines(path, columns, wanted, everything)
            if lines:
                found.append(
                    {
                        "file": path.relative_to(landing_dir).as_posix(),
                        "table": table.name,
                        "lines": len(lines),
                        "line_numbers": lines[:MAX_LINES_LISTED],
                        "identifier_kinds": sorted(kinds),
                    }
                )
    return found


def _matching_lines(path: Path, columns, wanted, everything) -> tuple[list[int], set[str]]:
    lines, kinds = [], set()
    with path.open(encoding="utf-8-sig", errors="replace", newline="") as handle:
        if path.suffix == ".csv":
            header = next(csv.reader([handle.readline()]), [])
            records = ((n, line, _csv_record(header, line)) for n, line in enumerate(handle, 2))
        else:
            records = ((n, line, _json_record(line)) for n, line in enumerate(handle, 1))
        for number, line, record in records:
            if not any(value in line.lower() for value in everything):
                continue  # the common case, decided without parsing
            hit = _kinds_in(record, columns, wanted) if record is not None else None
            if hit is None:
                tokens = set(TOKEN.findall(line.lower()))
                hit = {kind for kind, values in wanted.items() if tokens & values}
            if hit:
                lines.append(number)
                kinds |= hit
    return lines, kinds


def _csv_record(header: list[str], line: str) -> dict | None:
    fields = next(csv.reader([line]), None)
    if fields is None or len(fields) != len(header):
        return None
    return dict(zip(header, fields, strict=True))


def _json_record(line: str) -> dict | None:
    try:
        record = json.loads(line)
    except ValueError:
        return None
    return record if isinstance(record, dict) else None


def _kinds_in(record: dict, columns, wanted) -> set[str]:
    return {
        kind
        for column, kind in columns
        if record.get(column) is not None and normalize(record[column]) in wanted.get(kind, set())
    }
