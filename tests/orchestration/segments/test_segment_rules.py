import duckdb
import pandas as pd
import pytest

from orchestration import settings
from orchestration.segments.rules import (
    Segment,
    SegmentError,
    compile_segments,
    declared_values,
    load_segments,
)

COLUMNS = {
    "person_id": "VARCHAR",
    "days_since_last_order": "BIGINT",
    "orders_365d": "BIGINT",
    "is_marketable": "BOOLEAN",
    "rfm_segment": "VARCHAR",
    "engagement_score": "INTEGER",
}
PEOPLE = pd.DataFrame(
    {
        "person_id": ["ann", "bob", "cy", "dee"],
        "days_since_last_order": [10, 90, None, 200],
        "orders_365d": [8, 1, 0, 2],
        "is_marketable": [True, True, False, True],
        "rfm_segment": ["Champions", "At Risk", None, "Can't Lose Them"],
        "engagement_score": [80, 40, 5, 60],
    }
)


def _segment(name, rule, **kw):
    return Segment(name=name, description="d", owner="o", rule=rule, source="test.yml", **kw)


def _members(segments):
    compiled = compile_segments(segments, COLUMNS, "people")
    with duckdb.connect() as conn:
        conn.register("people", PEOPLE)
        rows = conn.execute(compiled.sql, compiled.params).fetchall()
    out: dict[str, set] = {}
    for person, segment in rows:
        out.setdefault(segment, set()).add(person)
    return out


def test_rules_combine_with_and_or_not_and_other_segments():
    lapsed = _segment("lapsed", {"field": "days_since_last_order", "gt": 60})
    members = _members(
        [
            lapsed,
            _segment("loyal", {"field": "orders_365d", "gt": 5}),
            _segment("valuable", {"field": "rfm_segment", "in": ["Champions", "Can't Lose Them"]}),
            _segment(
                "win_back",
                {
                    "all": [
                        {"segment": "lapsed"},
                        {"not": {"field": "is_marketable", "is": False}},
                        {
                            "any": [
                                {"segment": "valuable"},
                                {"field": "engagement_score", "gte": 50},
                            ]
                        },
                    ]
                },
            ),
            _segment("never_ordered", {"field": "days_since_last_order", "is": None}),
        ]
    )
    assert members["lapsed"] == {"bob", "dee"}
    assert members["loyal"] == {"ann"}
    assert members["valuable"] == {"ann", "dee"}
    assert members["win_back"] == {"dee"}
    assert members["never_ordered"] == {"cy"}


@pytest.mark.parametrize(
    ("rule", "message"),
    [
        ({"field": "shoe_size", "gt": 40}, "field 'rule': unknown field 'shoe_size'"),
        (
            {"field": "orders_365d", "gt": "many"},
            "field 'rule': gt 'many' does not fit field 'orders_365d'",
        ),
        ({"field": "rfm_segment", "gt": "A"}, "'gt' needs a number or a date"),
        (
            {"all": [{"field": "orders_365d", "gt": 1}, {"segment": "nope"}]},
            "field 'rule.all[1]': unknown segment 'nope'",
        ),
        ({"any": []}, "field 'rule': 'any' needs a non-empty list"),
        ({"field": "orders_365d", "about": 3}, "unknown comparison 'about'"),
        ({"segment": "circle"}, "segments refer to each other in a circle"),
    ],
)
def test_an_invalid_rule_fails_naming_the_file_segment_and_field(rule, message):
    with pytest.raises(SegmentError) as error:
        compile_segments([_segment("circle", rule)], COLUMNS, "people")
    assert str(error.value).startswith("test.yml: segment 'circle': field ")
    assert message in str(error.value)


def test_hostile_values_are_data_and_hostile_names_are_rejected():
    hostile = "x'; drop table people; --"
    members = _members([_segment("odd", {"field": "rfm_segment", "eq": hostile})])
    assert "odd" not in members  # no match, and the table survived the query
    with pytest.raises(SegmentError, match="unknown field"):
        compile_segments(
            [
                _segment(
                    "bad", {"field": 'person_id" is not null; drop table people; --', "is": None}
                )
            ],
            COLUMNS,
            "people",
        )


def test_a_segment_file_with_an_error_names_the_file_and_field(tmp_path):
    (tmp_path / "bad.yml").write_text(
        "segments:\n  - name: no_owner\n    description: x\n    rule: {field: a, is: true}\n"
    )
    with pytest.raises(
        SegmentError, match=r"bad.yml: segment 'no_owner': field 'owner' is required"
    ):
        load_segments(tmp_path)


def test_misspelled_keys_fields_and_comparisons_are_errors_with_a_suggestion(tmp_path):
    # Ignored, `minsize: 5` would have left the minimum at 100 without a word.
    (tmp_path / "typos.yml").write_text(
        "segments:\n"
        "  - {name: small, description: x, owner: o, minsize: 5, rule: {segment: loyal}}\n"
        "  - {name: loyal, description: x, owner: o, rule: {field: orders_365d, gt: 5}}\n"
    )
    with pytest.raises(SegmentError) as error:
        load_segments(tmp_path)
    assert "segment 'small': field 'minsize': unknown field (did you mean 'min_size'?)" in str(
        error.value
    )
    with pytest.raises(SegmentError) as error:
        compile_segments(
            [
                _segment("a", {"field": "orders_356d", "gt": 1}),
                _segment("b", {"field": "orders_365d", "gte_": 1}),
                _segment("c", {"segmnt": "a"}),
            ],
            COLUMNS,
            "people",
        )
    lines = str(error.value).splitlines()
    assert len(lines) == 3, "every broken segment is reported at once"
    assert "unknown field 'orders_356d' (did you mean 'orders_365d'?)" in lines[0]
    assert "unknown comparison 'gte_' (did you mean 'gte'?)" in lines[1]
    assert "unknown rule keys ['segmnt'] (did you mean 'segment'?)" in lines[2]


def test_the_shipped_segment_library_loads_with_the_playbook():
    names = {s.name for s in load_segments(settings.segments_dir())}
    assert {
        "highly_engaged",
        "moderately_engaged",
        "disengaged",
        "recent_buyers",
        "lapsed_buyers",
        "loyal_buyers",
        "viewed_not_bought_7d",
        "high_value_buyers",
        "category_browsers_7d",
        "cart_abandoners_1h",
        "cart_abandoners_24h",
        "first_purchase_anniversary",
        "inactive_30d",
        "inactive_180d",
        "lifecycle_new",
        "win_back_candidates",
    } <= names


def test_a_value_a_column_never_takes_is_an_error_with_the_value_it_probably_meant():
    # Tiers are lower case: `eq: Gold` would silently match no one.
    known = declared_values(settings.dbt_project_dir() / "models")
    assert known["loyalty_tier"] == ("bronze", "silver", "gold", "platinum")
    assert "at_risk" in known["lifecycle_stage"]
    columns = {**COLUMNS, "loyalty_tier": "VARCHAR", "lifecycle_stage": "VARCHAR"}
    with pytest.raises(SegmentError) as error:
        compile_segments(
            [
                _segment("gold", {"field": "loyalty_tier", "eq": "Gold"}),
                _segment("slipping", {"field": "lifecycle_stage", "in": ["at_risk", "lapsing"]}),
            ],
            columns,
            "people",
            known,
        )
    lines = str(error.value).splitlines()
    assert "eq 'Gold': 'loyalty_tier' is never 'Gold' (did you mean 'gold'?)" in lines[0]
    assert "in 'lapsing': 'lifecycle_stage' is never 'lapsing' (did you mean 'lapsed'?)" in lines[1]
    compiled = compile_segments(
        [_segment("gold", {"field": "loyalty_tier", "eq": "gold"})], columns, "people", known
    )
    assert compiled.params == ["gold", "gold"]
    # Country codes come from the countries seed the staging models map exports to.
    with pytest.raises(SegmentError, match=r"'country_code' is never 'UK'; .*\(250 in all\)"):
        compile_segments(
            [_segment("uk", {"field": "country_code", "eq": "UK"})],
            {**columns, "country_code": "VARCHAR"},
            "people",
            known,
        )


def test_a_date_that_is_not_a_date_is_an_error_not_a_warehouse_conversion_failure():
    with pytest.raises(SegmentError, match="'since_spring' is not a date or time"):
        compile_segments(
            [_segment("x", {"field": "signed_up_at", "gte": "since_spring"})],
            {**COLUMNS, "signed_up_at": "TIMESTAMP"},
            "people",
        )
    compile_segments(
        [_segment("x", {"field": "signed_up_at", "gte": "2026-03-01"})],
        {**COLUMNS, "signed_up_at": "TIMESTAMP"},
        "people",
    )


def test_relative_windows_count_back_from_the_as_of_date_not_from_today():
    from datetime import datetime

    people = pd.DataFrame(
        {
            "person_id": ["ann", "bob", "cy"],
            "last_opened_at": pd.to_datetime(["2026-06-25", "2026-05-01", None]),
        }
    )
    columns = {"person_id": "VARCHAR", "last_opened_at": "TIMESTAMP"}
    segments = [
        _segment("opened_lately", {"field": "last_opened_at", "within_days": 14}),
        _segment("gone_quiet", {"field": "last_opened_at", "older_than_days": 30}),
    ]

    def members(as_of):
        compiled = compile_segments(segments, columns, "people", as_of=as_of)
        with duckdb.connect() as conn:
            conn.register("people", people)
            return sorted(conn.execute(compiled.sql, compiled.params).fetchall())

    assert members(datetime(2026, 6, 30)) == [("ann", "opened_lately"), ("bob", "gone_quiet")]
    # A rerun for an earlier day selects who qualified then.
    assert members(datetime(2026, 5, 10)) == [("bob", "opened_lately")]
    with pytest.raises(SegmentError, match="'within_days' needs a timestamp or a date"):
        compile_segments(
            [_segment("x", {"field": "orders_365d", "within_days": 3})],
            COLUMNS,
            "people",
            as_of=datetime(2026, 6, 30),
        )
    with pytest.raises(SegmentError, match="takes a whole number of days, got '2 weeks'"):
        compile_segments(
            [_segment("x", {"field": "last_opened_at", "within_days": "2 weeks"})],
            columns,
            "people",
            as_of=datetime(2026, 6, 30),
        )
