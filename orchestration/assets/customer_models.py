"""Customer models, tracked in MLflow, and their outputs written back to the warehouse."""

import dagster as dg
import mlflow
import pandas as pd
from dagster_duckdb import DuckDBResource

from ml import classifiers, clv, features, personas, plots, recommend, scoring, tracking, uplift
from ml.errors import CannotTrain
from ml.features import FeatureCache
from orchestration import ml_io, settings, warehouse
from orchestration.resources import MlflowTracking

FACTS = ["fct_orders", "fct_order_items", "fct_email_events", "fct_web_events", "identity_links"]
CLV_HORIZON_DAYS = 365
CLV_HOLDOUT_DAYS = 90
RECS_HOLDOUT_DAYS = 30
TRAINED_CHECK = "model_trained_on_this_data"
UPLIFT_MODEL = uplift.NAME


def _features(conn) -> tuple:
    orders = ml_io.read_orders(conn)
    features = conn.execute("select * from ml.customer_features").df()
    return warehouse.as_of(conn), orders, FeatureCache(features, orders)


@dg.asset(group_name="ml", deps=[*FACTS, "stg_crm__customers"], kinds={"pandas", "duckdb"})
def customer_features(duckdb: DuckDBResource) -> dg.MaterializeResult:
    """Point-in-time features per person at the as-of date and at each training cutoff."""
    with duckdb.get_connection() as conn:
        as_of = warehouse.as_of(conn)
        conn.execute("create schema if not exists ml")
        rows = features.store(
            conn, ml_io.FEATURE_RELATIONS, classifiers.cutoffs(as_of), "ml.customer_features"
        )
        cutoffs = conn.execute(
            "select strftime(cutoff_at, '%Y-%m-%d %H:%M'), count(*) from ml.customer_features"
            " group by 1 order by 1"
        ).fetchall()
        people_at_as_of = conn.execute(
            "select count(*) from ml.customer_features where cutoff_at = ?",
            [as_of.to_pydatetime()],
        ).fetchone()[0]
        latest = conn.execute(
            "select * from ml.customer_features where cutoff_at = ? order by person_id limit 10",
            [as_of.to_pydatetime()],
        ).df()
    return dg.MaterializeResult(
        metadata={
            "dagster/row_count": rows,
            "people_at_as_of": people_at_as_of,
            "cutoffs": dg.MetadataValue.json(dict(cutoffs)),
            "preview": dg.MetadataValue.md(warehouse.preview_markdown(latest)),
        }
    )


def _trained_check(name: str) -> dg.AssetCheckSpec:
    return dg.AssetCheckSpec(
        TRAINED_CHECK,
        asset=name,
        description="The model could be trained on this data; when not, why, and what scores instead.",
    )


def _skipped(duckdb: DuckDBResource, name: str, as_of, reason: str, fallback: str, metadata=None):
    """A model the data cannot support: the asset materializes, says why and what scores
    instead, and its check warns in the UI. The sends go on."""
    with duckdb.get_connection() as conn:
        ml_io.record_model_run(conn, name, as_of, skipped_because=reason)
    yield dg.MaterializeResult(
        metadata={
            **(metadata or {}),
            "skipped": True,
            "skipped_because": reason,
            "scores_come_from": fallback,
        }
    )
    yield dg.AssetCheckResult(
        check_name=TRAINED_CHECK,
        passed=False,
        severity=dg.AssetCheckSeverity.WARN,
        metadata={"skipped_because": reason, "scores_come_from": fallback},
    )


def _trained(duckdb: DuckDBResource, name: str, as_of, metadata: dict):
    with duckdb.get_connection() as conn:
        ml_io.record_model_run(conn, name, as_of, skipped_because=None)
    yield dg.MaterializeResult(metadata={"skipped": False, **metadata})
    yield dg.AssetCheckResult(check_name=TRAINED_CHECK, passed=True)


def _champion_fallback(mlflow_tracking: MlflowTracking, registered_name: str) -> str:
    mlflow_tracking.start(registered_name)
    _, version = tracking.load_champion_with_version(registered_name)
    if version is None:
        return "nothing: no champion yet, so its scores are null with the reason"
    return f"the current champion, version {version}, trained on earlier data"


def _classifier_asset(task: classifiers.Task, doc: str):
    name = f"{task.name}_model"

    @dg.asset(
        name=name,
        group_name="ml",
        deps=[customer_features],
        kinds={"sklearn", "mlflow"},
        description=doc,
        check_specs=[_trained_check(name)],
    )
    def _model(
        context: dg.AssetExecutionContext, duckdb: DuckDBResource, mlflow_tracking: MlflowTracking
    ):
        with duckdb.get_connection() as conn:
            as_of, _, features = _features(conn)
        try:
            result = classifiers.train(task, features, as_of)
        except CannotTrain as exc:
            fallback = _champion_fallback(mlflow_tracking, task.name)
            yield from _skipped(duckdb, task.name, as_of, str(exc), fallback)
            return
        experiment_id = mlflow_tracking.start(task.name)
        with mlflow.start_run(run_name=f"{task.name} as of {as_of:%Y-%m-%d}") as run:
            mlflow.log_param("as_of", f"{as_of:%Y-%m-%d %H:%M}")
            decision = tracking.log_classifier_run(
                result, task.name, mlflow_tracking.run_tags(context.run_id, as_of)
            )
        yield from _trained(
            duckdb,
            task.name,
            as_of,
            {
                **{f"holdout_{k}": v for k, v in result.metrics.items()},
                **{
                    f"baseline_{name}_{metric}": m[metric]
                    for name, m in result.baselines.items()
                    for metric in ("roc_auc", "pr_auc")
                },
                **{
                    f"baseline_{name}_skipped": why for name, why in result.baseline_skipped.items()
                },
                "top_features": dg.MetadataValue.md(
                    result.importance.head(5).to_markdown(index=False)
                ),
                "train_rows": result.params["train_rows"],
                "why_this_many_rows": result.params["train_rows_reason"],
                "learning_curve": dg.MetadataValue.md(
                    result.learning_curve.round(4).to_markdown(index=False)
                    if not result.learning_curve.empty
                    else "no curve: " + result.params["train_rows_reason"]
                ),
                "model_version": decision["version"],
                "champion_decision": decision["decision"],
                "mlflow_run_id": run.info.run_id,
                "mlflow_run": dg.MetadataValue.url(
                    mlflow_tracking.ui_url(experiment_id, run.info.run_id)
                ),
            },
        )

    return _model


purchase_propensity_model = _classifier_asset(
    classifiers.PURCHASE,
    "Purchase-in-30-days classifier, calibrated, judged on an unseen window, registered in MLflow.",
)
churn_risk_model = _classifier_asset(
    classifiers.CHURN,
    "Churn classifier (past buyer, no order in 90 days), calibrated and registered in MLflow.",
)


@dg.asset(
    group_name="ml",
    deps=FACTS,
    kinds={"scipy", "mlflow", "duckdb"},
    check_specs=[_trained_check("clv_model_params")],
)
def clv_model_params(
    context: dg.AssetExecutionContext, duckdb: DuckDBResource, mlflow_tracking: MlflowTracking
):
    """BG/NBD and Gamma-Gamma parameters fit by maximum likelihood, checked on a 90-day holdout."""
    with duckdb.get_connection() as conn:
        as_of = warehouse.as_of(conn)
        orders = ml_io.read_orders(conn)
    spend = settings.clv_spend_model()
    try:
        found = clv.fit_with_holdout(orders, as_of, CLV_HOLDOUT_DAYS, spend=spend)
    except CannotTrain as exc:
        with duckdb.get_connection() as conn:
            earlier = ml_io.latest_clv_params(conn, as_of, missing_ok=True)
        fallback = (
            f"the parameters fitted at {earlier[3]:%Y-%m-%d}"
            if earlier
            else "nothing: CLV columns are null with the reason"
        )
        yield from _skipped(duckdb, "clv", as_of, str(exc), fallback)
        return
    model, holdout = found.model, found.holdout
    experiment_id = mlflow_tracking.start("customer_lifetime_value")
    with mlflow.start_run(run_name=f"clv as of {as_of:%Y-%m-%d}") as run:
        tags = mlflow_tracking.run_tags(context.run_id, as_of)
        mlflow.set_tags(tags)
        for purpose, summary in found.summaries.items():
            cutoff = as_of if purpose == "training" else found.holdout_cutoff
            tracking.log_dataset(
                summary.reset_index(drop=True),
                f"clv_{purpose}_buyers",
                purpose,
                {"as_of": tags["as_of"], "cutoff": f"{cutoff:%Y-%m-%d %H:%M}"},
            )
        mlflow.log_params(
            {
                "as_of": f"{as_of:%Y-%m-%d %H:%M}",
                "horizon_days": CLV_HORIZON_DAYS,
                "holdout_days": CLV_HOLDOUT_DAYS,
                "transaction_period": clv.PERIOD,
                "gamma_gamma_spend": spend,
                "gamma_gamma_spend_means": clv.SPEND_MODELS[spend],
                "buyers": model.buyers,
                "converged": model.converged,
            }
        )
        mlflow.log_metrics({f"param_{k}": v for k, v in model.params().items()})
        mlflow.log_metrics({f"holdout_{k}": v for k, v in holdout.items()})
        figure = plots.transactions_by_frequency(
            found.calibration, f"holdout: {CLV_HOLDOUT_DAYS} days before {as_of:%Y-%m-%d}"
        )
        mlflow.log_figure(figure, "holdout_transactions_by_frequency.png")
        plots.close(figure)
        mlflow.log_table(found.calibration.reset_index(), "holdout_transactions_by_frequency.json")
    with duckdb.get_connection() as conn:
        ml_io.record_clv_params(conn, model, as_of, run.info.run_id, CLV_HORIZON_DAYS)
    yield from _trained(
        duckdb,
        "clv",
        as_of,
        {
            **{k: round(v, 4) for k, v in model.params().items()},
            "buyers": model.buyers,
            "converged": model.converged,
            "gamma_gamma_spend": spend,
            **{f"holdout_{k}": v for k, v in holdout.items()},
            "holdout_by_frequency": dg.MetadataValue.md(found.calibration.round(3).to_markdown()),
            "mlflow_run_id": run.info.run_id,
            "mlflow_run": dg.MetadataValue.url(
                mlflow_tracking.ui_url(experiment_id, run.info.run_id)
            ),
        },
    )


@dg.asset(
    group_name="ml",
    deps=[customer_features],
    kinds={"sklearn", "duckdb"},
    check_specs=[_trained_check("customer_personas")],
)
def customer_personas(
    context: dg.AssetExecutionContext, duckdb: DuckDBResource, mlflow_tracking: MlflowTracking
):
    """K-means personas over RFM and engagement, named by their centroids, with the silhouette."""
    with duckdb.get_connection() as conn:
        as_of, _, features = _features(conn)
    try:
        found = personas.fit(features.at(as_of))
    except CannotTrain as exc:
        with duckdb.get_connection() as conn:
            warehouse.replace_table(conn, "ml", "customer_personas", ml_io.persona_frame(None))
        yield from _skipped(duckdb, "personas", as_of, str(exc), "nothing: personas are null")
        return
    experiment_id = mlflow_tracking.start("personas")
    with mlflow.start_run(run_name=f"personas as of {as_of:%Y-%m-%d}") as run:
        mlflow.set_tags(mlflow_tracking.run_tags(context.run_id, as_of))
        mlflow.log_params({"k": found.k, "features": ",".join(personas.PERSONA_FEATURES)})
        mlflow.log_metrics({"silhouette": found.silhouette})
        mlflow.log_metrics({f"silhouette_k{k}": v for k, v in found.silhouettes.items()})
        mlflow.log_table(found.centroids.reset_index(names="persona"), "centroids.json")
    frame = ml_io.persona_frame(found)
    with duckdb.get_connection() as conn:
        rows = warehouse.replace_table(conn, "ml", "customer_personas", frame)
    yield from _trained(
        duckdb,
        "personas",
        as_of,
        {
            "dagster/row_count": rows,
            "k": found.k,
            "silhouette": found.silhouette,
            "centroids": dg.MetadataValue.md(found.centroids.round(2).to_markdown()),
            "mlflow_run": dg.MetadataValue.url(
                mlflow_tracking.ui_url(experiment_id, run.info.run_id)
            ),
        },
    )


@dg.asset(
    group_name="ml",
    deps=[customer_features, "fct_email_events"],
    kinds={"sklearn", "mlflow"},
    check_specs=[_trained_check("customer_uplift")],
)
def customer_uplift(
    context: dg.AssetExecutionContext, duckdb: DuckDBResource, mlflow_tracking: MlflowTracking
):
    """Who buys because of the email: a two-model uplift learner on past campaigns' holdouts."""
    with duckdb.get_connection() as conn:
        as_of = warehouse.as_of(conn)
        dataset = uplift.assignments(conn, ml_io.UPLIFT_RELATIONS, as_of)
    try:
        result = uplift.train(dataset)
    except CannotTrain as exc:
        with duckdb.get_connection() as conn:
            # The report's Qini curves are of this run's model or of none.
            conn.execute("drop table if exists ml.uplift_holdout_scores")
        fallback = _champion_fallback(mlflow_tracking, UPLIFT_MODEL)
        yield from _skipped(duckdb, "uplift", as_of, str(exc), fallback)
        return
    experiment_id = mlflow_tracking.start(UPLIFT_MODEL)
    with mlflow.start_run(run_name=f"uplift as of {as_of:%Y-%m-%d}") as run:
        mlflow.log_param("as_of", f"{as_of:%Y-%m-%d %H:%M}")
        decision = tracking.log_uplift_run(
            result, UPLIFT_MODEL, mlflow_tracking.run_tags(context.run_id, as_of)
        )
    held_out = result.eval_scores.rename(columns={"label": "has_converted", "score": "uplift"})
    with duckdb.get_connection() as conn:
        warehouse.replace_table(conn, "ml", "uplift_holdout_scores", held_out)
    comparison = pd.DataFrame({"model": result.metrics, **result.baselines}).T.drop(columns="rows")
    metadata = {
        **{f"holdout_{k}": v for k, v in result.metrics.items()},
        **{f"baseline_{name}_qini": m["qini"] for name, m in result.baselines.items()},
        "campaigns": result.params["campaigns"],
        "assignments": len(dataset),
        "against_baselines": dg.MetadataValue.md(comparison.round(4).to_markdown()),
        "model_version": decision["version"],
        "champion_decision": decision["decision"],
        "mlflow_run_id": run.info.run_id,
        "mlflow_run": dg.MetadataValue.url(mlflow_tracking.ui_url(experiment_id, run.info.run_id)),
    }
    if not decision["promoted"] and _champion_fallback(mlflow_tracking, UPLIFT_MODEL).startswith(
        "nothing"
    ):
        # Trained and logged, but no better than random targeting or propensity on people it
        # never saw, and no earlier version is: uplift_7d stays empty, with this reason.
        yield from _skipped(
            duckdb, "uplift", as_of, decision["decision"], "nothing: uplift_7d is null", metadata
        )
        return
    yield from _trained(duckdb, "uplift", as_of, metadata)


@dg.asset(
    group_name="ml",
    deps=[
        purchase_propensity_model,
        churn_risk_model,
        clv_model_params,
        customer_personas,
        customer_uplift,
    ],
    kinds={"duckdb", "mlflow"},
)
def customer_scores(
    duckdb: DuckDBResource, mlflow_tracking: MlflowTracking
) -> dg.MaterializeResult:
    """Propensity, churn risk, uplift, expected purchases, CLV and persona per person."""
    champions = {}
    for name in (*(task.name for task in classifiers.TASKS), UPLIFT_MODEL):
        mlflow_tracking.start(name)
        champions[name] = tracking.load_champion_with_version(name)
    with duckdb.get_connection() as conn:
        as_of, orders, features = _features(conn)
        clv_params = ml_io.latest_clv_params(conn, as_of, missing_ok=True)
        persona_names = conn.execute("select person_id, persona from ml.customer_personas").df()
        skipped = ml_io.skipped_models(conn, as_of)
        scores = scoring.score_everyone(
            features,
            orders,
            as_of,
            champions,
            clv_params[:3] if clv_params else None,
            persona_names,
            clv_discount_rate=settings.clv_discount_rate(),
            skipped=skipped,
        )
        rows = warehouse.replace_table(conn, "ml", "customer_scores", scores)
    return dg.MaterializeResult(
        metadata={
            "dagster/row_count": rows,
            "as_of": f"{as_of:%Y-%m-%d %H:%M}",
            **{f"{name}_version": version for name, (_, version) in champions.items()},
            "models_skipped": dg.MetadataValue.json(skipped),
            "missing_scores": dg.MetadataValue.json(
                {
                    column: reasons.dropna().iloc[0]
                    for column, reasons in scores.filter(like="_missing_reason").items()
                    if reasons.notna().any()
                }
            ),
            "mean_purchase_propensity": float(scores["purchase_propensity"].mean()),
            "mean_churn_probability": float(scores["churn_probability"].mean()),
            "mean_uplift_7d": float(scores["uplift_7d"].mean()),
            "total_clv_eur": float(scores["clv_eur"].sum()),
            "preview": dg.MetadataValue.md(
                warehouse.preview_markdown(
                    scores.sort_values("purchase_propensity", ascending=False)
                )
            ),
        }
    )


@dg.asset(
    group_name="ml",
    deps=[*FACTS, "dim_products", "int_favourite_categories_chosen"],
    kinds={"scipy", "duckdb", "mlflow"},
)
def customer_recommendations(
    context: dg.AssetExecutionContext, duckdb: DuckDBResource, mlflow_tracking: MlflowTracking
) -> dg.MaterializeResult:
    """Top 3 products per person by item-item collaborative filtering, bestsellers as fallback."""
    with duckdb.get_connection() as conn:
        as_of = warehouse.as_of(conn)
        facts = ml_io.read_facts(conn, tables=("order_items", "web_events"))
        people = ml_io.people_with_favourite_category(conn)
        products = conn.execute(
            "select product_id, category, units_sold from marts.dim_products"
        ).df()
    evaluation = recommend.holdout_evaluation(
        facts["order_items"], facts["web_events"], products, as_of, RECS_HOLDOUT_DAYS
    )
    recs = recommend.recommend(people, products, facts["order_items"], facts["web_events"], as_of)[
        "item_item"
    ]
    experiment_id = mlflow_tracking.start("recommendations")
    with mlflow.start_run(run_name=f"recommendations as of {as_of:%Y-%m-%d}") as run:
        mlflow.set_tags(mlflow_tracking.run_tags(context.run_id, as_of))
        mlflow.log_params(
            {
                "k": 3,
                "interaction_weights": str(recommend.INTERACTION_WEIGHTS),
                "holdout_days": RECS_HOLDOUT_DAYS,
                "holdout_cutoff": f"{as_of - pd.Timedelta(days=RECS_HOLDOUT_DAYS):%Y-%m-%d %H:%M}",
            }
        )
        for strategy, metrics in evaluation.items():
            mlflow.log_metrics({f"{strategy}_{k}": v for k, v in metrics.items()})
        figure = plots.recommendation_holdout(
            evaluation, f"holdout: {RECS_HOLDOUT_DAYS} days before {as_of:%Y-%m-%d}"
        )
        mlflow.log_figure(figure, "holdout_by_strategy.png")
        plots.close(figure)
        mlflow.log_table(
            pd.DataFrame(evaluation).T.reset_index(names="strategy"), "holdout_by_strategy.json"
        )
    with duckdb.get_connection() as conn:
        rows = warehouse.replace_table(conn, "ml", "customer_recommendations", recs)
    return dg.MaterializeResult(
        metadata={
            "dagster/row_count": rows,
            "people": int(recs["person_id"].nunique()),
            "holdout": dg.MetadataValue.md(pd.DataFrame(evaluation).T.round(4).to_markdown()),
            "catalogue_coverage": float(recs["product_id"].nunique() / max(1, len(products))),
            "by_strategy": dg.MetadataValue.json(recs["strategy"].value_counts().to_dict()),
            "preview": dg.MetadataValue.md(warehouse.preview_markdown(recs)),
            "mlflow_run": dg.MetadataValue.url(
                mlflow_tracking.ui_url(experiment_id, run.info.run_id)
            ),
        }
    )
