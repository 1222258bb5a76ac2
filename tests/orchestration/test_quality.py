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


def _web_events_load(conn, n: int):
    """A raw web_events table holding one load of `n` rows, as the loader leaves it."""
    from orchestration.ingest.landing import LANDING_TABLES

    table = next(t for t in LANDING_TABLES if t.name == "web_events")
    conn.execute("create schema raw")
    columns = ", ".join(f"{c.name} varchar" for c in table.columns)
    conn.execute(f"create table raw.web_events ({columns}, _loaded_at timestamp)")
    rows = pd.DataFrame({c.name: [f"{c.name}-{i}" for i in range(n)] for c in table.columns})
    rows["event_type"] = "page_view"
    rows["_loaded_at"] = pd.Timestamp("2026-11-01")
    conn.execute("insert into raw.web_events select * from rows")
    return table


def test_the_contract_frame_holds_every_break_of_a_large_load_and_a_bounded_sample():
    import duckdb

    conn = duckdb.connect()
    table = _web_events_load(conn, 5_000)
    conn.execute("update raw.web_events set event_id = 'event_id-1' where event_id = 'event_id-2'")
    conn.execute(
        "update raw.web_events set event_type = 'video_play' where event_id = 'event_id-7'"
    )
    conn.execute("update raw.web_events set anonymous_id = null where event_id = 'event_id-9'")
    frame, rows = quality.raw_contract_frame(conn, table, pd.Timestamp("2026-11-01"), 300)
    assert rows == 5_000 and len(frame) == 300 + 4
    assert (frame["event_id"] == "event_id-1").sum() == 2
    assert "video_play" in set(frame["event_type"]) and frame["anonymous_id"].isna().sum() == 1
    again, _ = quality.raw_contract_frame(conn, table, pd.Timestamp("2026-11-01"), 300)
    assert again.equals(frame)


def test_the_raw_suite_fails_on_the_contract_frame_as_it_fails_on_the_whole_load(tmp_path):
    import duckdb

    conn = duckdb.connect()
    table = _web_events_load(conn, 2_000)
    conn.execute("update raw.web_events set event_type = 'scroll' where event_id < 'event_id-11'")
    columns = ", ".join(quality.raw_suite_columns(table))
    whole = conn.execute(f"select {columns} from raw.web_events").df()
    frame, _ = quality.raw_contract_frame(conn, table, pd.Timestamp("2026-11-01"), 100)
    on_whole = quality.validate(tmp_path / "gx", "raw_web_events", whole, table=table)
    on_frame = quality.validate(tmp_path / "gx", "raw_web_events", frame, table=table)
    assert not on_whole.passed and not on_frame.passed
    assert [(f.expectation, f.column, f.observed) for f in on_frame.failures] == [
        (f.expectation, f.column, f.observed) for f in on_whole.failures
    ]
