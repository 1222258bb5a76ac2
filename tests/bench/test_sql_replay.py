import json

import duckdb

from bench.sql_replay import SCRATCH, invocations_since, replay


def _invocation(folder, results, nodes):
    folder.mkdir(parents=True)
    (folder / "manifest.json").write_text(json.dumps({"nodes": nodes}))
    (folder / "run_results.json").write_text(json.dumps({"elapsed_time": 5.0, "results": results}))
    return folder / "run_results.json"


def _result(unique_id, sql, seconds, status="success"):
    return {
        "unique_id": unique_id,
        "status": status,
        "compiled_code": sql,
        "execution_time": seconds,
    }


def test_replay_reruns_models_and_tests_and_leaves_the_warehouse_as_dbt_built_it(tmp_path):
    database = tmp_path / "warehouse.duckdb"
    with duckdb.connect(str(database)) as conn:
        conn.execute("create table orders as select range as order_id from range(1000)")
        conn.execute("create table order_totals as select 7 as total")
    path = _invocation(
        tmp_path / "target" / "dbt_models-1",
        [
            _result("seed.p.countries", None, 0.2),
            _result("model.p.matched", "import pandas", 3.0),
            _result("model.p.order_totals", "select count(*) as total from orders", 0.5),
            _result("test.p.unique_order_id", "select order_id from orders where false", 0.1),
            _result("test.p.finds_a_failure", "select 1", 0.1, status="fail"),
            _result("test.p.broken", "select * from nowhere", 0.1, status="error"),
        ],
        {
            "model.p.matched": {"name": "matched", "language": "python"},
            "model.p.order_totals": {
                "name": "order_totals",
                "language": "sql",
                "config": {"materialized": "table"},
            },
            "test.p.unique_order_id": {"name": "unique_order_id"},
        },
    )

    found = replay(database, invocations_since(tmp_path / "target", 0), "1GB")

    assert (found.invocations, found.sql_nodes, found.other_nodes) == (1, 3, 2)
    assert round(found.dbt_seconds, 6) == 0.7 and found.other_seconds == 3.2
    assert found.duckdb_seconds > 0 and found.dbt_elapsed_seconds == 5.0
    with duckdb.connect(str(database)) as conn:
        assert conn.execute("select total from order_totals").fetchall() == [(7,)]
        schemas = {
            r[0] for r in conn.execute("select schema_name from duckdb_schemas()").fetchall()
        }
        assert SCRATCH not in schemas
    assert path in invocations_since(tmp_path / "target", 0)
    assert invocations_since(tmp_path / "target", path.stat().st_mtime + 1) == []
