"""Product recommendations: item-item collaborative filtering, and the baseline it must beat,
the bestsellers of the person's favourite category they don't own yet, topped up with overall
bestsellers for people without a category (cold start)."""

from __future__ import annotations

from dataclasses import dataclass

import duckdb
import numpy as np
import pandas as pd
from scipy import sparse


def _owned_matrix(people: pd.Index, products: pd.Index, owned: pd.DataFrame) -> sparse.csr_matrix:
    rows = people.get_indexer(owned["person_id"])
    cols = products.get_indexer(owned["product_id"])
    ok = (rows >= 0) & (cols >= 0)
    return sparse.csr_matrix(
        (np.ones(int(ok.sum())), (rows[ok], cols[ok])), shape=(len(people), len(products))
    )


def _top_k(keys: np.ndarray, k: int) -> tuple[np.ndarray, np.ndarray]:
    """Column indices and keys of each row's k largest keys, best first."""
    k = min(k, keys.shape[1])
    top = np.argpartition(-keys, kth=k - 1, axis=1)[:, :k]
    top_keys = np.take_along_axis(keys, top, axis=1)
    order = np.argsort(-top_keys, axis=1, kind="stable")
    return np.take_along_axis(top, order, axis=1), np.take_along_axis(top_keys, order, axis=1)


def popular_in_favourite_category(
    people: pd.DataFrame,
    products: pd.DataFrame,
    purchases: pd.DataFrame,
    k: int = 3,
) -> pd.DataFrame:
    """people: person_id, favourite_category (may be null); products: product_id, category,
    units_sold; purchases: person_id, product_id (already owned). Returns person_id, rank,
    product_id, score (share of the category's sales, halved for overall bestsellers),
    strategy."""
    person_ids = pd.Index(people["person_id"])
    owned = _owned_matrix(person_ids, pd.Index(products["product_id"]), purchases)
    return _popular(person_ids, people["favourite_category"], products, owned, k)


def _popular(
    person_ids: pd.Index,
    favourite_category: pd.Series,
    products: pd.DataFrame,
    owned: sparse.csr_matrix,
    k: int,
) -> pd.DataFrame:
    """popular_in_favourite_category, with what each person owns as rows of a matrix over the
    catalogue (its first rows are `person_ids`)."""
    product_ids = pd.Index(products["product_id"])
    units = products["units_sold"].to_numpy(float)
    category_codes, categories = pd.factorize(products["category"])
    category_units = np.bincount(category_codes, weights=units)[category_codes]
    share = units / np.clip(category_units, 1, None)
    # Bestseller order: units sold, then product id; the favourite category comes first.
    order = np.lexsort((products["product_id"].to_numpy(), -units))
    popularity = np.empty(len(products))
    popularity[order] = 1.0 - np.arange(len(products)) / max(1, len(products))
    favourite = categories.get_indexer(favourite_category)
    out = []
    for start in range(0, len(person_ids), CHUNK_PEOPLE):
        rows = slice(start, min(start + CHUNK_PEOPLE, len(person_ids)))
        in_favourite = category_codes[None, :] == favourite[rows, None]
        keys = popularity[None, :] + 2.0 * in_favourite
        keys[owned[rows].toarray() > 0] = -np.inf
        top, top_keys = _top_k(keys, k)
        picked_in_favourite = np.take_along_axis(in_favourite, top, axis=1).ravel()
        out.append(
            pd.DataFrame(
                {
                    "person_id": np.repeat(person_ids[rows].to_numpy(), top.shape[1]),
                    "rank": np.tile(np.arange(1, top.shape[1] + 1), top.shape[0]),
                    "product_id": product_ids.to_numpy()[top.ravel()],
                    "score": share[top.ravel()] * np.where(picked_in_favourite, 1.0, 0.5),
                    "strategy": np.where(
                        picked_in_favourite,
                        "favourite_category_bestsellers",
                        "overall_bestsellers",
                    ),
                    "_finite": np.isfinite(top_keys.ravel()),
                }
            )
        )
    if not out:
        return pd.DataFrame(columns=["person_id", "rank", "product_id", "score", "strategy"])
    frame = pd.concat(out, ignore_index=True)
    return frame[frame.pop("_finite")].reset_index(drop=True)


# How much an interaction says about wanting a product: buying it, carting it, viewing it.
INTERACTION_WEIGHTS = {"purchase": 3.0, "add_to_cart": 2.0, "product_view": 1.0}
CHUNK_PEOPLE = 50_000


@dataclass
class Interactions:
    """Who interacted with which product before a cutoff, as sparse matrices over the
    catalogue: `weights` sums each person's interaction weights per product, `owned` is 1
    where they bought it. Row i is `people[i]`: the people asked about first, in their order,
    then everyone else who interacted."""

    people: pd.Index
    weights: sparse.csr_matrix
    owned: sparse.csr_matrix


# Each person's summed weight per catalogue product, and whether they bought it.
SUMMED_SQL = """
with
bought as (
    select person_id, product_id, {purchase} as weight, true as is_owned
    from order_items
    where ordered_at < $cutoff
),

browsed as (
    select
        person_id,
        product_id,
        case event_type when 'add_to_cart' then {add_to_cart} else {product_view} end as weight,
        false as is_owned
    from web_events
    where
        occurred_at < $cutoff
        and event_type in ('product_view', 'add_to_cart')
        and product_id is not null
),

events as (
    select * from bought
    union all
    select * from browsed
),

final as (
    select
        events.person_id,
        catalogue.product_code,
        sum(events.weight) as weight,
        bool_or(events.is_owned) as is_owned
    from events
    inner join catalogue on events.product_id = catalogue.product_id
    group by all
)

select * from final
"""

# Row numbers: the people asked about keep theirs; everyone else who interacted follows, in
# id order, so that sums over people add in the same order in every run.
CODES_SQL = """
with
others as (
    select distinct person_id from summed
    anti join wanted using (person_id)
),

numbered as (
    select
        person_id,
        (select count(*) from wanted) + row_number() over (order by person_id) - 1 as person_code
    from others
),

final as (
    select person_id, person_code from wanted
    union all
    select person_id, person_code from numbered
)

select * from final
"""


def interactions(
    order_items: pd.DataFrame,
    web_events: pd.DataFrame,
    cutoff,
    people: pd.Index,
    product_ids: pd.Index,
) -> Interactions:
    """Weighted person × product interactions strictly before `cutoff`, summed by DuckDB over
    the frames (a hash aggregate on every core: pandas' string group-by took most of the
    recommendations' time at scale).

    order_items: person_id, product_id, ordered_at; web_events: person_id, event_type,
    product_id, occurred_at."""
    weights = {k: float(v) for k, v in INTERACTION_WEIGHTS.items()}
    with duckdb.connect(":memory:") as conn:
        conn.register("order_items", order_items[["person_id", "product_id", "ordered_at"]])
        conn.register(
            "web_events", web_events[["person_id", "event_type", "product_id", "occurred_at"]]
        )
        conn.register(
            "wanted", pd.DataFrame({"person_id": people, "person_code": np.arange(len(people))})
        )
        conn.register(
            "catalogue",
            pd.DataFrame({"product_id": product_ids, "product_code": np.arange(len(product_ids))}),
        )
        conn.execute(
            f"create temp table summed as {SUMMED_SQL.format(**weights)}",
            {"cutoff": pd.Timestamp(cutoff)},
        )
        conn.execute(f"create temp table codes as {CODES_SQL}")
        others = conn.execute(
            "select person_id from codes where person_code >= ? order by person_code",
            [len(people)],
        ).fetchnumpy()["person_id"]
        cells = conn.execute(
            """
            select codes.person_code, summed.product_code, summed.weight, summed.is_owned
            from summed inner join codes using (person_id)
            """
        ).fetchnumpy()
    everyone = pd.Index(np.concatenate([np.asarray(people, dtype=object), others.astype(object)]))
    shape = (len(everyone), len(product_ids))
    rows = np.asarray(cells["person_code"], dtype=np.int64)
    cols = np.asarray(cells["product_code"], dtype=np.int64)
    owned = np.asarray(cells["is_owned"], dtype=bool)
    return Interactions(
        people=everyone,
        weights=sparse.csr_matrix(
            (np.asarray(cells["weight"], dtype=float), (rows, cols)), shape=shape
        ),
        owned=sparse.csr_matrix(
            (np.ones(int(owned.sum())), (rows[owned], cols[owned])), shape=shape
        ),
    )


def item_similarity(matrix: sparse.csr_matrix) -> np.ndarray:
    """Cosine similarity between products' interaction columns, without self-similarity."""
    norms = np.sqrt(np.asarray(matrix.multiply(matrix).sum(axis=0))).ravel()
    co = (matrix.T @ matrix).toarray()
    with np.errstate(divide="ignore", invalid="ignore"):
        similarity = co / np.outer(norms, norms)
    similarity = np.nan_to_num(similarity)
    np.fill_diagonal(similarity, 0.0)
    return similarity


def item_item(interacted: Interactions, wanted: int, product_ids: pd.Index, k: int = 3):
    """Item-item collaborative filtering on co-purchases and co-views, for the first `wanted`
    people of `interacted`.

    A person's score for a product is the similarity-weighted sum of what they interacted
    with (log-damped weights); products they own are left out. Returns person_id, rank,
    product_id, score for people with at least one candidate scoring above zero."""
    if len(product_ids) == 0 or interacted.weights.nnz == 0:
        return pd.DataFrame(columns=["person_id", "rank", "product_id", "score"])
    matrix = interacted.weights.copy()
    matrix.data = np.log1p(matrix.data)
    similarity = item_similarity(matrix)
    out = []
    for start in range(0, wanted, CHUNK_PEOPLE):
        chunk = slice(start, min(start + CHUNK_PEOPLE, wanted))
        scores = np.asarray(matrix[chunk] @ similarity)
        scores[interacted.owned[chunk].toarray() > 0] = -np.inf
        top, top_scores = _top_k(scores, k)
        # A catalogue smaller than k gives fewer than k candidates each.
        per_person = top.shape[1]
        frame = pd.DataFrame(
            {
                "person_id": np.repeat(interacted.people[chunk].to_numpy(), per_person),
                "rank": np.tile(np.arange(1, per_person + 1), top.shape[0]),
                "product_id": product_ids.to_numpy()[top.ravel()],
                "score": top_scores.ravel(),
            }
        )
        out.append(frame[frame["score"] > 0])
    if not out:
        return pd.DataFrame(columns=["person_id", "rank", "product_id", "score"])
    return pd.concat(out, ignore_index=True)


def favourite_categories(order_items: pd.DataFrame, cutoff) -> pd.DataFrame:
    """The category a person bought most units of before `cutoff`: the point-in-time twin of
    int_favourite_categories_chosen, for evaluating at a past cutoff."""
    past = order_items[order_items["ordered_at"] < pd.Timestamp(cutoff)]
    units = past.groupby(["person_id", "category"], as_index=False)["quantity"].sum()
    units = units.sort_values(["person_id", "quantity", "category"], ascending=[True, False, True])
    return units.drop_duplicates("person_id")[["person_id", "category"]].rename(
        columns={"category": "favourite_category"}
    )


def units_sold(products: pd.DataFrame, order_items: pd.DataFrame, cutoff) -> pd.DataFrame:
    """products (product_id, category) with units sold before `cutoff`."""
    past = order_items[order_items["ordered_at"] < pd.Timestamp(cutoff)]
    sold = past.groupby("product_id")["quantity"].sum()
    return products[["product_id", "category"]].assign(
        units_sold=products["product_id"].map(sold).fillna(0).astype(int)
    )


def recommend(
    people: pd.DataFrame,
    products: pd.DataFrame,
    order_items: pd.DataFrame,
    web_events: pd.DataFrame,
    cutoff,
    k: int = 3,
) -> dict[str, pd.DataFrame]:
    """Both recommenders for `people` (person_id, favourite_category) from data before
    `cutoff`: `popularity` alone, and `item_item` topped up from popularity where
    collaborative filtering has fewer than k candidates (cold start)."""
    people = people.drop_duplicates("person_id")
    person_ids = pd.Index(people["person_id"])
    product_ids = pd.Index(products["product_id"])
    interacted = interactions(order_items, web_events, cutoff, person_ids, product_ids)
    popularity = _popular(person_ids, people["favourite_category"], products, interacted.owned, k)
    cf = item_item(interacted, len(person_ids), product_ids, k=k).assign(strategy="item_item")
    cf["score"] = cf["score"] / max(float(cf["score"].max()), 1e-12) if len(cf) else cf["score"]
    fill = popularity.assign(rank=popularity["rank"] + k)
    combined = pd.concat([cf, fill], ignore_index=True).drop_duplicates(
        ["person_id", "product_id"], keep="first"
    )
    combined = combined.sort_values(["person_id", "rank"], kind="stable")
    combined["rank"] = combined.groupby("person_id").cumcount() + 1
    combined = combined[combined["rank"] <= k].reset_index(drop=True)
    return {"item_item": combined, "popularity": popularity}


def holdout_truth(order_items: pd.DataFrame, cutoff, horizon_days: int) -> pd.DataFrame:
    """What each person bought in [cutoff, cutoff + horizon) that they did not own before."""
    cutoff = pd.Timestamp(cutoff)
    before = order_items.loc[order_items["ordered_at"] < cutoff, ["person_id", "product_id"]]
    after = order_items.loc[
        (order_items["ordered_at"] >= cutoff)
        & (order_items["ordered_at"] < cutoff + pd.Timedelta(days=horizon_days)),
        ["person_id", "product_id"],
    ].drop_duplicates()
    known = after.merge(before.drop_duplicates().assign(_owned=True), how="left")
    return known[known["_owned"].isna()].drop(columns="_owned").reset_index(drop=True)


def evaluate(
    recs: pd.DataFrame, truth: pd.DataFrame, catalogue_size: int, k: int = 3
) -> dict[str, float]:
    """precision@k and recall@k over people who bought something new, and the share of the
    catalogue recommended to anyone."""
    hits = truth.merge(recs[["person_id", "product_id"]], on=["person_id", "product_id"])
    per_person = pd.DataFrame(
        {
            "relevant": truth.groupby("person_id").size(),
            "hits": hits.groupby("person_id").size(),
        }
    ).fillna(0)
    return {
        f"precision_at_{k}": float((per_person["hits"] / k).mean()) if len(per_person) else 0.0,
        f"recall_at_{k}": float((per_person["hits"] / per_person["relevant"]).mean())
        if len(per_person)
        else 0.0,
        "catalogue_coverage": float(recs["product_id"].nunique() / max(1, catalogue_size)),
        "people_evaluated": float(len(per_person)),
    }


def holdout_evaluation(
    order_items: pd.DataFrame,
    web_events: pd.DataFrame,
    products: pd.DataFrame,
    as_of,
    horizon_days: int,
    k: int = 3,
) -> dict[str, dict[str, float]]:
    """Both recommenders built from data before as_of - horizon, judged on what people bought
    new in the horizon after it."""
    cutoff = pd.Timestamp(as_of) - pd.Timedelta(days=horizon_days)
    known = order_items.loc[order_items["ordered_at"] < cutoff, ["person_id"]]
    browsed = web_events.loc[web_events["occurred_at"] < cutoff, ["person_id"]]
    people = pd.DataFrame({"person_id": pd.unique(pd.concat([known, browsed])["person_id"])})
    people = people.merge(favourite_categories(order_items, cutoff), how="left")
    truth = holdout_truth(order_items, cutoff, horizon_days)
    truth = truth[truth["person_id"].isin(people["person_id"])]
    both = recommend(
        people, units_sold(products, order_items, cutoff), order_items, web_events, cutoff, k=k
    )
    return {name: evaluate(recs, truth, len(products), k=k) for name, recs in both.items()}
