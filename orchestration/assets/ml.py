"""Customer models, tracked in MLflow, and their outputs written back to the warehouse."""

import dagster as dg
import mlflow
from dagster_duckdb import DuckDBResource

from ml import propensity, recommend, tracking
from orchestration.lib import warehouse
from orchestration.resources import MlflowTracking

PROPENSITY_MODEL = "purchase_propensity"


@dg.asset(
    group_name="ml",
    deps=[
        "fct_orders",
        "fct_email_events",
        "fct_web_events",
        "identity_links",
        "stg_crm__customers",
    ],
    kinds={"sklearn", "mlflow"},
)
def purchase_propensity_model(
    duckdb: DuckDBResource, mlflow_tracking: MlflowTracking
) -> dg.MaterializeResult:
    """Purchase-in-30-days classifier, evaluated on an unseen window and registered in MLflow."""
    with duckdb.get_connection() as conn:
        as_of = warehouse.as_of(conn)
        facts = warehouse.read_facts(conn)
        first_seen = warehouse.first_seen(conn)
    result = propensity.train(facts, first_seen, as_of)
    experiment_id = mlflow_tracking.start(PROPENSITY_MODEL)
    with mlflow.start_run(run_name=f"propensity as of {as_of:%Y-%m-%d}") as run:
        mlflow.log_params({**result.params, "as_of": f"{as_of:%Y-%m-%d %H:%M}"})
        mlflow.log_metrics({f"holdout_{k}": v for k, v in result.metrics.items()})
        mlflow.log_metrics({f"baseline_logreg_{k}": v for k, v in result.baseline_metrics.items()})
        info = tracking.log_sklearn_model(result.model, "model", result.example, PROPENSITY_MODEL)
        promoted, decision = tracking.promote_if_better(
            PROPENSITY_MODEL,
            str(info.registered_model_version),
            "holdout_roc_auc",
            result.metrics["roc_auc"],
        )
        mlflow.set_tags({"champion_decision": decision, "promoted": str(promoted)})
    return dg.MaterializeResult(
        metadata={
            "holdout_roc_auc": result.metrics["roc_auc"],
            "holdout_pr_auc": result.metrics["pr_auc"],
            "holdout_brier": result.metrics["brier"],
            "holdout_top_decile_lift": result.metrics["top_decile_lift"],
            "baseline_logreg_roc_auc": result.baseline_metrics["roc_auc"],
            "holdout_rows": result.metrics["rows"],
            "model_version": str(info.registered_model_version),
            "champion_decision": decision,
            "mlflow_run_id": run.info.run_id,
            "mlflow_run": dg.MetadataValue.url(
                mlflow_tracking.ui_url(experiment_id, run.info.run_id)
            ),
        }
    )


@dg.asset(group_name="ml", deps=[purchase_propensity_model], kinds={"duckdb", "mlflow"})
def customer_scores(
    duckdb: DuckDBResource, mlflow_tracking: MlflowTracking
) -> dg.MaterializeResult:
    """Purchase propensity for every person as of the as-of date, from the champion model."""
    mlflow_tracking.start(PROPENSITY_MODEL)
    version = mlflow.MlflowClient().get_model_version_by_alias(PROPENSITY_MODEL, tracking.CHAMPION)
    model = tracking.load_champion(PROPENSITY_MODEL)
    with duckdb.get_connection() as conn:
        as_of = warehouse.as_of(conn)
        scores = propensity.score(
            model, warehouse.read_facts(conn), warehouse.first_seen(conn), as_of
        )
        scores = scores.assign(
            scored_as_of=as_of, model_name=PROPENSITY_MODEL, model_version=str(version.version)
        )
        rows = warehouse.replace_table(conn, "ml", "customer_scores", scores)
    return dg.MaterializeResult(
        metadata={
            "dagster/row_count": rows,
            "as_of": f"{as_of:%Y-%m-%d %H:%M}",
            "model_version": str(version.version),
            "mean_propensity": float(scores["purchase_propensity"].mean()),
            "preview": dg.MetadataValue.md(
                warehouse.preview_markdown(
                    scores.sort_values("purchase_propensity", ascending=False)
                )
            ),
        }
    )


@dg.asset(
    group_name="ml",
    deps=["identity_links", "dim_products", "fct_order_items", "int_favourite_categories_chosen"],
    kinds={"duckdb"},
)
def customer_recommendations(duckdb: DuckDBResource) -> dg.MaterializeResult:
    """Top 3 products per person: bestsellers of their favourite category they don't own yet."""
    with duckdb.get_connection() as conn:
        people = conn.execute(
            """
            select people.person_id, favourites.favourite_category
            from (select distinct person_id from marts.identity_links) as people
            left join intermediate.int_favourite_categories_chosen as favourites
                on people.person_id = favourites.person_id
            """
        ).df()
        products = conn.execute(
            "select product_id, category, units_sold from marts.dim_products"
        ).df()
        owned = conn.execute(
            "select distinct person_id, product_id from marts.fct_order_items"
        ).df()
        recs = recommend.popular_in_favourite_category(people, products, owned, k=3)
        rows = warehouse.replace_table(conn, "ml", "customer_recommendations", recs)
    return dg.MaterializeResult(
        metadata={
            "dagster/row_count": rows,
            "people": int(recs["person_id"].nunique()),
            "catalogue_coverage": float(recs["product_id"].nunique() / max(1, len(products))),
            "by_strategy": dg.MetadataValue.json(recs["strategy"].value_counts().to_dict()),
            "preview": dg.MetadataValue.md(warehouse.preview_markdown(recs)),
        }
    )
