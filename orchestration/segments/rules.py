"""The declarative segment library: YAML rules compiled to SQL, so adding a segment needs no SQL.

A segment file holds a list under `segments:`; each has a name, description, owner, an
optional `min_size` (default 100) and a rule:

    rule:
      all:                                   # AND
        - {field: days_since_last_order, gt: 60}
        - any:                               # OR
            - {segment: highly_engaged}      # another segment, by name
            - {field: engagement_score, gte: 50}
        - not: {field: is_unsubscribed, is: true}

Comparisons: is (true, false or null), eq, ne, gt, gte, lt, lte, in (a list), between
([low, high]), and on a timestamp or date, within_days and older_than_days (a whole number of
days before the as-of date: {field: last_opened_at, within_days: 14}). Fields are columns of the customer view; the compiler checks each name against
them and quotes it, and passes every value as a bound parameter, so nothing in a segment file
reaches the SQL as text. An invalid rule fails with the file, the segment and the field path;
an unknown key (`minsize`), field or comparison is an error with the nearest known name, as
is a value the dbt project's accepted_values say a column never takes; every broken segment
is reported at once.
"""

from __future__ import annotations

import csv
import difflib
import re
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from pathlib import Path

import yaml

NAME = re.compile(r"^[a-z][a-z0-9_]{0,62}$")
NUMERIC = (
    "integer",
    "bigint",
    "double",
    "decimal",
    "float",
    "hugeint",
    "smallint",
    "tinyint",
    "real",
    "numeric",
)
COMPARISONS = {"eq": "=", "ne": "<>", "gt": ">", "gte": ">=", "lt": "<", "lte": "<="}
DEFAULT_MIN_SIZE = 100
SEGMENT_FIELDS = ("name", "description", "owner", "rule", "min_size", "max_share")
RELATIVE = ("within_days", "older_than_days")
OPERATORS = ("is", *COMPARISONS, "in", "between", *RELATIVE)


class SegmentError(ValueError):
    """A segment definition that cannot be used; the message names file, segment and field."""


@dataclass(frozen=True)
class Segment:
    name: str
    description: str
    owner: str
    rule: dict
    source: str
    min_size: int = DEFAULT_MIN_SIZE
    max_share: float = 1.0


@dataclass
class CompiledSegments:
    sql: str
    params: list = field(default_factory=list)


def _did_you_mean(word, known) -> str:
    close = difflib.get_close_matches(str(word), list(known), n=1, cutoff=0.6)
    return f" (did you mean '{close[0]}'?)" if close else ""


def load_segments(folder: Path) -> list[Segment]:
    segments: list[Segment] = []
    seen: dict[str, str] = {}
    errors: list[str] = []
    for path in sorted(folder.glob("*.y*ml")):
        try:
            data = yaml.safe_load(path.read_text(encoding="utf-8")) or {}
        except yaml.YAMLError as exc:
            raise SegmentError(f"{path}: not valid YAML: {exc}") from exc
        entries = data.get("segments") if isinstance(data, dict) else None
        if not isinstance(entries, list):
            raise SegmentError(f"{path}: a segment file holds a list under 'segments'")
        for i, entry in enumerate(entries):
            try:
                segment = _parse(path, i, entry)
            except SegmentError as error:
                errors.append(str(error))
                continue
            if segment.name in seen:
                errors.append(
                    f"{path}: segment '{segment.name}' is also defined in {seen[segment.name]}"
                )
            seen[segment.name] = str(path)
            segments.append(segment)
    if errors:
        raise SegmentError("\n".join(errors))
    return segments


def _parse(path: Path, index: int, entry) -> Segment:
    where = f"{path}: segments[{index}]"
    if not isinstance(entry, dict):
        raise SegmentError(f"{where}: a segment is a mapping of fields")
    name = entry.get("name")
    if not isinstance(name, str) or not NAME.match(name):
        raise SegmentError(f"{where}: field 'name' must be lower_snake_case, got {name!r}")
    where = f"{path}: segment '{name}'"
    unknown = [
        f"{where}: field '{key}': unknown field{_did_you_mean(key, SEGMENT_FIELDS)};"
        f" known: {', '.join(SEGMENT_FIELDS)}"
        for key in entry
        if key not in SEGMENT_FIELDS
    ]
    if unknown:
        raise SegmentError("\n".join(unknown))
    for key in ("description", "owner"):
        if not isinstance(entry.get(key), str) or not entry[key].strip():
            raise SegmentError(f"{where}: field '{key}' is required")
    if "rule" not in entry:
        raise SegmentError(f"{where}: field 'rule' is required")
    min_size = entry.get("min_size", DEFAULT_MIN_SIZE)
    if not isinstance(min_size, int) or isinstance(min_size, bool) or min_size < 0:
        raise SegmentError(f"{where}: field 'min_size' must be a whole number, got {min_size!r}")
    max_share = entry.get("max_share", 1.0)
    if not isinstance(max_share, int | float) or not 0 < max_share <= 1:
        raise SegmentError(f"{where}: field 'max_share' must be in (0, 1], got {max_share!r}")
    return Segment(
        name,
        entry["description"].strip(),
        entry["owner"].strip(),
        entry["rule"],
        str(path),
        min_size,
        float(max_share),
    )


def model_columns(models_dir: Path, model: str = "dim_customers") -> list[dict]:
    """The column entries of `model` in the dbt project's YAML, as written."""
    columns = []
    for path in sorted(models_dir.rglob("*.yml")):
        document = yaml.safe_load(path.read_text(encoding="utf-8")) or {}
        for node in document.get("models") or []:
            if node.get("name") == model:
                columns += node.get("columns") or []
    return columns


def declared_values(models_dir: Path, model: str = "dim_customers") -> dict[str, tuple]:
    """The values the dbt project accepts for each column of `model` that has an
    accepted_values test, or a relationships test to a seed (its column's values): a rule
    comparing such a column to anything else matches no one."""
    seeds = models_dir.parent / "seeds"
    values: dict[str, tuple] = {}
    for column in model_columns(models_dir, model):
        for test in column.get("data_tests") or []:
            if not isinstance(test, dict):
                continue
            name = column["name"].lower()
            if "accepted_values" in test:
                arguments = test["accepted_values"].get("arguments", test["accepted_values"])
                values[name] = tuple(arguments["values"])
            elif "relationships" in test:
                arguments = test["relationships"].get("arguments", test["relationships"])
                seed = re.fullmatch(r"ref\('(\w+)'\)", arguments["to"])
                if seed and (seeds / f"{seed.group(1)}.csv").exists():
                    values[name] = _seed_column(seeds / f"{seed.group(1)}.csv", arguments["field"])
    return values


def _seed_column(path: Path, column: str) -> tuple:
    with path.open(newline="", encoding="utf-8") as fh:
        return tuple(row[column] for row in csv.DictReader(fh))


def compile_condition(
    rule: dict,
    columns: dict[str, str],
    library: list[Segment],
    source: str,
    label: str,
    root: str,
    known_values: dict[str, tuple] | None = None,
    as_of: datetime | None = None,
) -> tuple[str, list]:
    """A rule that is not itself in the library (a campaign's audience) as a SQL condition.

    It may refer to library segments by name; errors name `source`, `label` and the field
    path from `root`."""
    owner = Segment(label, "", "", rule, source)
    columns = {name.lower(): kind.lower() for name, kind in columns.items()}
    by_name = {s.name: s for s in library}
    context = _Context(by_name, columns, known_values or {}, as_of)
    try:
        return _compile(rule, owner, context, root, (label,))
    except SegmentError as exc:
        raise SegmentError(str(exc).replace(f"segment '{label}'", label, 1)) from None


def compile_segments(
    segments: list[Segment],
    columns: dict[str, str],
    base: str,
    known_values: dict[str, tuple] | None = None,
    as_of: datetime | None = None,
) -> CompiledSegments:
    """One query over `base` returning (person_id, segment_name) for every segment's members.

    columns: the base's column names and their SQL types (e.g. from DESCRIBE); known_values:
    the values some of them can take (see `declared_values`); as_of: the date relative
    comparisons count back from."""
    by_name = {s.name: s for s in segments}
    columns = {name.lower(): kind.lower() for name, kind in columns.items()}
    context = _Context(by_name, columns, known_values or {}, as_of)
    parts, params, errors = [], [], []
    for segment in segments:
        try:
            expression, values = _compile(segment.rule, segment, context, "rule", (segment.name,))
        except SegmentError as error:
            errors.append(str(error))
            continue
        parts.append(
            f"select person_id, ? as segment_name from {base} where coalesce({expression}, false)"
        )
        params.extend([segment.name, *values])
    if errors:
        raise SegmentError("\n".join(errors))
    sql = (
        "\nunion all\n".join(parts)
        if parts
        else "select null as person_id, null as segment_name where false"
    )
    return CompiledSegments(sql, params)


@dataclass(frozen=True)
class _Context:
    by_name: dict[str, Segment]
    columns: dict[str, str]
    known_values: dict[str, tuple]
    as_of: datetime | None


def _compile(rule, segment: Segment, context: _Context, path: str, stack: tuple[str, ...]):
    by_name = context.by_name

    def fail(message: str):
        raise SegmentError(f"{segment.source}: segment '{segment.name}': field '{path}': {message}")

    if not isinstance(rule, dict) or len(rule) == 0:
        fail("a rule is a mapping: all, any, not, segment, or field with a comparison")
    if "all" in rule or "any" in rule:
        key = "all" if "all" in rule else "any"
        if len(rule) != 1:
            fail(f"'{key}' stands alone in its mapping")
        items = rule[key]
        if not isinstance(items, list) or not items:
            fail(f"'{key}' needs a non-empty list of rules")
        compiled = [
            _compile(r, segment, context, f"{path}.{key}[{i}]", stack) for i, r in enumerate(items)
        ]
        joiner = " and " if key == "all" else " or "
        return "(" + joiner.join(e for e, _ in compiled) + ")", [
            v for _, values in compiled for v in values
        ]
    if "not" in rule:
        if len(rule) != 1:
            fail("'not' stands alone in its mapping")
        expression, values = _compile(rule["not"], segment, context, f"{path}.not", stack)
        return f"(not coalesce({expression}, false))", values
    if "segment" in rule:
        other = rule["segment"]
        if other not in by_name:
            fail(f"unknown segment {other!r}{_did_you_mean(other, by_name)}")
        if other in stack:
            fail(f"segments refer to each other in a circle: {' -> '.join([*stack, other])}")
        target = by_name[other]
        return _compile(target.rule, target, context, "rule", (*stack, other))
    if "field" in rule:
        return _comparison(rule, context, fail)
    keys = ("all", "any", "not", "segment", "field")
    hint = "".join(_did_you_mean(key, keys) for key in rule)
    fail(f"unknown rule keys {sorted(rule)}{hint}; use all, any, not, segment or field")
    raise AssertionError  # unreachable: fail raises


def _relative(op: str, value, name: str, kind: str, column: str, context: _Context, fail):
    """A window counted back from the as-of date, bound as timestamps, so that a rerun for
    an earlier date selects who qualified then."""
    if not kind.startswith(("timestamp", "date")):
        fail(f"'{op}' needs a timestamp or a date; {name!r} is {kind}")
    if isinstance(value, bool) or not isinstance(value, int) or value < 0:
        fail(f"'{op}' takes a whole number of days, got {value!r}")
    if context.as_of is None:
        fail(f"'{op}' counts back from the as-of date, which is not known here")
    cutoff = context.as_of - timedelta(days=value)
    if op == "within_days":
        return f"({column} between ? and ?)", [cutoff, context.as_of]
    return f"({column} < ?)", [cutoff]


def _is_iso_time(text: str) -> bool:
    try:
        datetime.fromisoformat(text)
    except ValueError:
        return False
    return True


def _comparison(rule: dict, context: _Context, fail):
    columns = context.columns
    name = rule["field"]
    if not isinstance(name, str) or name.lower() not in columns:
        fail(f"unknown field {name!r}{_did_you_mean(name, columns)}")
    kind = columns[name.lower()]
    operators = [k for k in rule if k != "field"]
    for op in operators:
        if op not in OPERATORS:
            fail(
                f"unknown comparison {op!r}{_did_you_mean(op, OPERATORS)};"
                f" use {', '.join(OPERATORS)}"
            )
    if len(operators) != 1:
        fail(f"field {name!r} needs exactly one comparison ({', '.join(OPERATORS)})")
    op = operators[0]
    value = rule[op]
    column = '"' + name.lower() + '"'
    numeric = kind.startswith(NUMERIC)
    if op in RELATIVE:
        return _relative(op, value, name, kind, column, context, fail)

    def check(v):
        if v is None or isinstance(v, bool):
            if kind != "boolean":
                fail(f"{op} {v!r} does not fit field {name!r} of type {kind}")
        elif isinstance(v, int | float):
            if not numeric:
                fail(f"{op} {v!r} does not fit field {name!r} of type {kind}")
        elif isinstance(v, str):
            if numeric or kind == "boolean":
                fail(f"{op} {v!r} does not fit field {name!r} of type {kind}")
            if kind.startswith(("timestamp", "date")) and not _is_iso_time(v):
                fail(
                    f"{op} {v!r} is not a date or time for field {name!r} of type {kind}:"
                    " write 2026-06-30 or 2026-06-30 12:00, or use within_days"
                )
            known = context.known_values.get(name.lower())
            if known and v not in known:
                listed = ", ".join(map(str, known[:12]))
                more = f", ... ({len(known)} in all)" if len(known) > 12 else ""
                fail(
                    f"{op} {v!r}: {name!r} is never {v!r}{_did_you_mean(v, known)};"
                    f" its values are {listed}{more}"
                )
        else:
            fail(f"{op} takes a number, text or true/false, got {v!r}")
        return v

    if op == "is":
        if value is None:
            return f"({column} is null)", []
        if not isinstance(value, bool) or kind != "boolean":
            fail(f"'is' takes true, false or null on a boolean field; {name!r} is {kind}")
        return f"({column} = ?)", [value]
    if op in COMPARISONS:
        if op not in ("eq", "ne") and not (numeric or kind.startswith(("timestamp", "date"))):
            fail(f"'{op}' needs a number or a date; {name!r} is {kind}")
        return f"({column} {COMPARISONS[op]} ?)", [check(value)]
    if op == "in":
        if not isinstance(value, list) or not value:
            fail("'in' takes a non-empty list")
        return f"({column} in ({', '.join('?' for _ in value)}))", [check(v) for v in value]
    if op == "between":
        if not isinstance(value, list) or len(value) != 2:
            fail("'between' takes [low, high]")
        return f"({column} between ? and ?)", [check(value[0]), check(value[1])]
    fail(f"unknown comparison {op!r}; use is, eq, ne, gt, gte, lt, lte, in or between")
    raise AssertionError
