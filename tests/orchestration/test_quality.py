import pandas as pd

from orchestration import quality


def _customers(n: int) -> pd.DataFrame:
    return pd.DataFrame(
        {
            "person_id": [f"p{i}" for i in range(n)],
            "is_marketable": [True] * n,
            "order_count": [1] * n,
            "total_revenue_eur": [10.0] * n,
            "email": ["a@example.com"] * n,
            "first_name": ["Ann"] * n,
            "last_seen_at": [pd.Timestamp("2026-10-30")] * n,
        }
    )


def test_a_collapse_in_rows_against_the_previous_run_is_critical_and_a_dip_warns(tmp_path):
    context = tmp_path / "gx"
    dip = quality.validate(context, "dim_customers", _customers(80), previous_rows=100)
    assert dip.passed and [f.severity for f in dip.failures] == ["warning"]
    collapse = quality.validate(context, "dim_customers", _customers(40), previous_rows=100)
    assert not collapse.passed
    assert any(
        f.expectation == "expect_table_row_count_to_be_between" for f in collapse.critical_failures
    )


def test_stale_data_warns_and_duplicate_people_stop_the_sends(tmp_path):
    frame = _customers(10)
    stale = quality.validate(
        tmp_path / "gx", "dim_customers", frame, as_of=pd.Timestamp("2026-12-31")
    )
    assert stale.passed and stale.failures[0].expectation == "expect_column_max_to_be_between"
    duplicated = pd.concat([frame, frame.head(1)])
    broken = quality.validate(tmp_path / "gx", "dim_customers", duplicated)
    assert not broken.passed and broken.critical_failures[0].column == "person_id"
    assert broken.docs_path is not None and broken.docs_path.is_file()
