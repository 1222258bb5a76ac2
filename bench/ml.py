"""`make bench-ml`: training plus scoring of every model on N customers' facts, step by step.

The pipeline bench (`make bench`) times the ML stage inside Dagster on generated landing
files; this one isolates the model work (features, both classifiers, CLV, personas,
recommendations, scoring) on warehouse-shaped facts drawn in memory, so it reaches a million
customers. MLflow logging is left out: it is a constant few seconds per run.
"""

import argparse
import resource
import sys
import time

import pandas as pd

from bench import synthetic_facts
from ml import classifiers, clv, features, personas, recommend


def _peak_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--customers", type=int, default=100_000)
    parser.add_argument("--seed", type=int, default=42)
    args = parser.parse_args()

    started = time.perf_counter()
    data = synthetic_facts.facts(args.customers, args.seed)
    as_of = data["as_of"]
    print(
        f"ML benchmark: {args.customers:,} customers ({len(data['first_seen']):,} people), "
        f"{len(data['orders']):,} orders, {len(data['order_items']):,} order lines, "
        f"{len(data['email_events']):,} email events, {len(data['web_events']):,} web events; "
        f"drawn in {time.perf_counter() - started:.1f} s"
    )
    print(f"{'step':<34} {'wall s':>8} {'peak RSS MB':>12}  result")
    timings = {}

    def step(name, fn):
        t = time.perf_counter()
        value, summary = fn()
        timings[name] = time.perf_counter() - t
        print(f"{name:<34} {timings[name]:>8.1f} {_peak_mb():>12.0f}  {summary}")
        return value

    cache = step(
        "features at 5 cutoffs",
        lambda: (
            c := features.FeatureCache.from_facts(
                data, data["first_seen"], classifiers.cutoffs(as_of)
            ),
            f"{len(c.at(as_of)):,} people at the as-of date",
        ),
    )
    models = {}
    for task in classifiers.TASKS:
        result = step(
            f"train {task.name}",
            lambda task=task: (
                r := classifiers.train(task, cache, as_of),
                f"holdout ROC AUC {r.metrics['roc_auc']:.3f} (logreg {r.baseline_metrics['roc_auc']:.3f}), "
                f"Brier {r.metrics['brier']:.4f}, {r.params['train_rows']:,} training rows",
            ),
        )
        models[task.name] = result.model
        step(
            f"score {task.name}",
            lambda task=task: (
                s := classifiers.score(task, models[task.name], cache, as_of),
                f"{len(s):,} scored",
            ),
        )

    def lifetime_value():
        holdout_cutoff = as_of - pd.Timedelta(days=90)
        earlier = clv.summarize(data["orders"], holdout_cutoff)
        holdout = clv.holdout_metrics(clv.fit(earlier), earlier, data["orders"], holdout_cutoff, 90)
        summary = clv.summarize(data["orders"], as_of)
        model = clv.fit(summary)
        predicted = clv.predict(model, summary, 365)
        return predicted, (
            f"{len(predicted):,} buyers; r={model.bgnbd.r:.3f} alpha={model.bgnbd.alpha:.1f} "
            f"a={model.bgnbd.a:.3f} b={model.bgnbd.b:.3f}; 90-day purchases predicted "
            f"{holdout['purchases_predicted_total']:,.0f} vs actual {holdout['purchases_actual_total']:,.0f}"
        )

    step("fit and predict CLV (with holdout)", lifetime_value)
    step(
        "personas",
        lambda: (
            p := personas.fit(cache.at(as_of)),
            f"k={p.k}, silhouette {p.silhouette:.3f}",
        ),
    )
    catalogue = recommend.units_sold(data["products"], data["order_items"], as_of)

    def recommendations_holdout():
        result = recommend.holdout_evaluation(
            data["order_items"], data["web_events"], catalogue, as_of, 30
        )
        cf, pop = result["item_item"], result["popularity"]
        return result, (
            f"precision@3 {cf['precision_at_3']:.3f} vs {pop['precision_at_3']:.3f}, "
            f"recall@3 {cf['recall_at_3']:.3f} vs {pop['recall_at_3']:.3f} (item-item vs popularity)"
        )

    step("evaluate recommenders (holdout)", recommendations_holdout)
    step(
        "recommend for everyone",
        lambda: (
            r := recommend.recommend(
                data["people"], catalogue, data["order_items"], data["web_events"], as_of
            )["item_item"],
            f"{len(r):,} recommendations for {r['person_id'].nunique():,} people",
        ),
    )
    total = sum(timings.values())
    print(f"{'training plus scoring':<34} {total:>8.1f} {_peak_mb():>12.0f}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
