import json

import numpy as np
import pandas as pd
import pyarrow as pa

from orchestration.demo import text


def _moments(n=2_000, seed=0):
    rng = np.random.default_rng(seed)
    seconds = rng.integers(-20 * 365 * 86_400, 60 * 365 * 86_400, size=n)
    nanos = rng.integers(0, 10**9, size=n)
    return (
        np.datetime64("1970-01-01", "ns")
        + seconds.astype("timedelta64[s]")
        + nanos.astype("timedelta64[ns]")
    )


def test_timestamps_read_as_strftime_writes_them_across_centuries_and_leap_days():
    ts = np.concatenate([_moments(), np.array(["2024-02-29T23:59:59"], dtype="datetime64[ns]")])
    expected = pd.Series(ts).dt.strftime("%Y-%m-%dT%H:%M:%SZ").tolist()
    assert text.timestamps(ts).to_pylist() == expected


def test_each_row_can_have_its_own_separator_and_suffix():
    ts = _moments(500, seed=1)
    style = np.arange(500) % 3
    separator = np.where(style == 2, ord(" "), ord("T")).astype(np.uint8)
    got = text.timestamps(ts, separator, ("Z", "+01:00", ".%fZ"), style).to_pylist()
    series = pd.Series(ts)
    formats = ["%Y-%m-%dT%H:%M:%SZ", "%Y-%m-%dT%H:%M:%S+01:00", "%Y-%m-%d %H:%M:%S.%fZ"]
    expected = [series.iloc[i : i + 1].dt.strftime(formats[s]).iloc[0] for i, s in enumerate(style)]
    assert got == expected


def test_dates_and_months_match_pandas():
    ts = _moments(300, seed=2)
    assert text.dates(ts).to_pylist() == pd.Series(ts).dt.strftime("%Y-%m-%d").tolist()
    months = [text.month_name(m) for m in text.month_codes(ts)]
    assert months == pd.Series(ts).dt.strftime("%Y-%m").tolist()


def test_ids_are_zero_padded_and_widen_rather_than_truncate():
    assert text.numbered("O", np.array([1, 42]), 8).to_pylist() == ["O00000001", "O00000042"]
    assert text.numbered("O", np.array([123_456_789]), 8).to_pylist() == ["O123456789"]
    values = np.array([0, 255, 2**62 + 7], dtype=np.uint64)
    assert text.hex_ids("ev-", values, 16).to_pylist() == [f"ev-{v:016x}" for v in values]
    assert text.hex_ids("s-", np.array([3, 2**48]), 12).to_pylist() == [
        "s-0000000000003",
        "s-1000000000000",
    ]


def test_floats_keep_the_decimal_point_pandas_writes():
    values = np.array([100.0, 0.0, 12.5, 1234567.89, 0.1 + 0.2])
    expected = pd.Series(values).to_csv(index=False, header=False).splitlines()
    assert text.as_text(values).to_pylist() == expected


def test_csv_lines_write_missing_values_as_empty_fields():
    lines = text.csv_lines([pa.array(["a", None]), np.array([1.5, 2.0]), pd.Series([1, 2])])
    assert lines.to_pylist() == ["a,1.5,1\n", ",2.0,2\n"]


def test_json_lines_escape_quotes_and_backslashes_and_write_null():
    lines = text.json_lines(
        {
            "name": pa.array(['say "hi"', None, "back\\slash"]),
            "url": pa.array(["https://x/y", "a", "b"]),
            "quantity": pd.array([1, None, 3], dtype="Int64"),
        },
        numbers=frozenset({"quantity"}),
    )
    assert [json.loads(line) for line in lines.to_pylist()] == [
        {"name": 'say "hi"', "url": "https://x/y", "quantity": 1},
        {"name": None, "url": "a", "quantity": None},
        {"name": "back\\slash", "url": "b", "quantity": 3},
    ]
    assert all(line.endswith("}\n") for line in lines.to_pylist())


def test_grouped_bytes_keep_row_order_within_a_group_and_apply_replacements():
    lines = pa.array([f"{i}\n" for i in range(6)])
    groups = {
        key: (data, list(rows))
        for key, data, rows in text.grouped_bytes(
            lines, np.array([2, 1, 2, 1, 2, 3]), (np.array([4, 1]), ["four\n", "one\n"])
        )
    }
    assert groups == {
        1: (b"one\n3\n", [1, 3]),
        2: (b"0\n2\nfour\n", [0, 2, 4]),
        3: (b"5\n", [5]),
    }
