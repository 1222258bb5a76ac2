"""docs/segments.md is the reference a segment author reads: it must list what the
compiler accepts, and its example must compile."""

import re
from datetime import datetime

import yaml

from orchestration import settings
from orchestration.segments.rules import (
    OPERATORS,
    Segment,
    compile_segments,
    declared_values,
    load_segments,
)

DOC = settings.PROJECT_ROOT / "docs" / "segments.md"


def _customer_view_columns() -> dict[str, str]:
    marts = yaml.safe_load((settings.dbt_project_dir() / "models/marts/_marts.yml").read_text())
    node = next(n for n in marts["models"] if n["name"] == "dim_customers")
    return {c["name"]: c["data_type"] for c in node["columns"]}


def test_the_reference_lists_every_operator_and_every_field_with_its_values():
    doc = DOC.read_text()
    for op in OPERATORS:
        assert f"| `{op}` |" in doc, op
    known = declared_values(settings.dbt_project_dir() / "models")
    for name, data_type in _customer_view_columns().items():
        row = re.search(rf"^\| `{name}` \| {re.escape(data_type)} \| ([^|]*)\|", doc, re.MULTILINE)
        assert row, f"{name} is not documented with its type"
        values = known.get(name, ())
        if len(values) > 20:  # a seed's list: the page names the seed
            assert "seed" in row.group(1), name
        else:
            assert all(f"`{v}`" in row.group(1) for v in values), name


def test_the_reference_example_compiles_against_the_customer_view():
    example = DOC.read_text().split("```yaml", 1)[1].split("```", 1)[0]
    entry = yaml.safe_load(example)["segments"][0]
    segment = Segment(entry["name"], entry["description"], entry["owner"], entry["rule"], str(DOC))
    library = load_segments(settings.segments_dir())
    compiled = compile_segments(
        [*library, segment],
        _customer_view_columns(),
        "people",
        declared_values(settings.dbt_project_dir() / "models"),
        datetime(2026, 6, 30),
    )
    assert "last_opened_at" in compiled.sql
