"""Warehouse side of the ML assets: the tables they write and the inputs they read."""

from __future__ import annotations

import duckdb
import pandas as pd

from ml import clv, personas
from orchestration.warehouse import table_exists

ORDERS_SQL = "select person_id, ordered_at, cast(total_amount_eur as double) as total_amount_eur from marts.fct_orders"


def read_orders(conn: duckdb.DuckDBPyConnection) -> pd.DataFrame:
    return conn.execute(ORDERS_SQL).df()


FACT_QUERIES = {
    "email_events": "select person_id, event_type, occurred_at from marts.fct_email_events",
    "web_events": "select person_id, event_type, session_id, product_id, occurred_at from marts.fct_web_events",
    "order_items": "select person_id, product_id, category, quantity, ordered_at from marts.fct_order_items",
}


def read_facts(
    conn: duckdb.DuckDBPyConnection, tables=("orders", *FACT_QUERIES)
) -> dict[str, pd.DataFrame]:
    """The facts the models learn from, as DataFrames keyed by name."""
    return {
        name: read_orders(conn) if name == "orders" else conn.execute(FACT_QUERIES[name]).df()
        for name in tables
    }


FIRST_SEEN_SQL = """
        select person_id, min(seen_at) as first_seen_at from (
            select person_id, ordered_at as seen_at from marts.fct_orders
            union all select person_id, occurred_at from marts.fct_web_events
            union all select person_id, occurred_at from marts.fct_email_events
            union all
            select links.person_id, crm.signup_at
            from marts.identity_links as links
            join staging.stg_crm__customers as crm
                on links.source_table = 'crm_customers' and links.record_id = crm.customer_id
        ) group by person_id
"""
# What the feature query reads, straight from the marts (see ml.features.RELATIONS).
FEATURE_RELATIONS = {
    "first_seen": f"({FIRST_SEEN_SQL})",
    "orders": f"({ORDERS_SQL})",
    "email_events": f"({FACT_QUERIES['email_events']})",
    "web_events": f"({FACT_QUERIES['web_events']})",
}

# The uplift model also needs each email event's campaign (see ml.uplift.ASSIGNMENTS_SQL).
UPLIFT_RELATIONS = {
    **FEATURE_RELATIONS,
    "email_events": "(select person_id, campaign_id, event_type, occurred_at"
    " from marts.fct_email_events)",
}


def first_seen(conn: duckdb.DuckDBPyConnection) -> pd.Series:
    """When each person first appeared in any source: the population at a cutoff."""
    return conn.execute(FIRST_SEEN_SQL).df().set_index("person_id")["first_seen_at"]


def record_clv_params(
    conn: duckdb.DuckDBPyConnection,
    model: clv.ClvModel,
    as_of: pd.Timestamp,
    run_id: str,
    horizon_days: int,
) -> None:
    """Append this fit to ml.clv_model_params: one row per fit, replacing a refit of the
    same as-of date."""
    conn.execute("create schema if not exists ml")
    conn.execute(
        """
        create table if not exists ml.clv_model_params (
            fitted_as_of timestamp, bgnbd_r double, bgnbd_alpha double, bgnbd_a double,
            bgnbd_b double, gg_p double, gg_q double, gg_gamma double, buyers bigint,
            converged boolean, horizon_days integer, mlflow_run_id varchar,
            fitted_at timestamp
        )
        """
    )
    conn.execute("delete from ml.clv_model_params where fitted_as_of = ?", [as_of])
    p = model.params()
    conn.execute(
        "insert into ml.clv_model_params values (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, current_timestamp)",
        [
            as_of,
            p["bgnbd_r"],
            p["bgnbd_alpha"],
            p["bgnbd_a"],
            p["bgnbd_b"],
            p["gg_p"],
            p["gg_q"],
            p["gg_gamma"],
            model.buyers,
            model.converged,
            horizon_days,
            run_id,
        ],
    )


def latest_clv_params(
    conn: duckdb.DuckDBPyConnection, as_of: pd.Timestamp, missing_ok: bool = False
) -> tuple[clv.ClvModel, int, str, pd.Timestamp] | None:
    """The newest fit at or before `as_of`: (model, horizon_days, MLflow run id, fitted as of).
    None when there is none and `missing_ok`."""
    exists = table_exists(conn, "ml", "clv_model_params")
    row = (
        conn.execute(
            """
            select bgnbd_r, bgnbd_alpha, bgnbd_a, bgnbd_b, gg_p, gg_q, gg_gamma, buyers,
                converged, horizon_days, mlflow_run_id, fitted_as_of
            from ml.clv_model_params where fitted_as_of <= ?
            order by fitted_as_of desc, fitted_at desc limit 1
            """,
            [as_of],
        ).fetchall()
        if exists
        else []
    )
    if not row:
        if missing_ok:
            return None
        raise LookupError(f"no CLV parameters fitted at or before {as_of}: run clv_model_params")
    row = row[0]
    model = clv.ClvModel(clv.BgNbd(*row[0:4]), clv.GammaGamma(*row[4:7]), row[7], row[8])
    return model, row[9], row[10], pd.Timestamp(row[11])


def record_model_run(
    conn: duckdb.DuckDBPyConnection, model: str, as_of: pd.Timestamp, skipped_because: str | None
) -> None:
    """Whether a model could be trained at this as-of date, and if not, why: what
    customer_scores says in place of a missing score."""
    conn.execute("create schema if not exists ml")
    conn.execute(
        """
        create table if not exists ml.model_runs (
            model varchar not null, as_of timestamp not null, trained boolean not null,
            skipped_because varchar, recorded_at timestamp not null
        )
        """
    )
    conn.execute(
        "insert into ml.model_runs values (?, ?, ?, ?, current_timestamp)",
        [model, as_of, skipped_because is None, skipped_because],
    )


def skipped_models(conn: duckdb.DuckDBPyConnection, as_of: pd.Timestamp) -> dict[str, str]:
    """model -> why it was skipped, for models whose latest run at `as_of` was skipped."""
    if not table_exists(conn, "ml", "model_runs"):
        return {}
    rows = conn.execute(
        """
        select model, arg_max_null(skipped_because, recorded_at)
        from ml.model_runs where as_of = ? group by model
        """,
        [as_of],
    ).fetchall()
    return {model: reason for model, reason in rows if reason is not None}


def persona_frame(found: personas.Personas | None) -> pd.DataFrame:
    """person_id, persona_id, persona; empty (typed) when no personas could be found."""
    if found is None:
        return pd.DataFrame(
            {
                "person_id": pd.Series(dtype="string"),
                "persona_id": pd.Series(dtype="int64"),
                "persona": pd.Series(dtype="string"),
            }
        )
    return pd.DataFrame(
        {
            "person_id": found.assignments.index,
            "persona_id": found.assignments.to_numpy(),
            "persona": found.assignments.map(found.names).to_numpy(),
        }
    )


def people_with_favourite_category(conn: duckdb.DuckDBPyConnection) -> pd.DataFrame:
    return conn.execute(
        """
        select people.person_id, favourites.favourite_category
        from (select distinct person_id from marts.identity_links) as people
        left join intermediate.int_favourite_categories_chosen as favourites
            on people.person_id = favourites.person_id
        """
    ).df()
