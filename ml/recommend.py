"""Product recommendations. The baseline every better recommender must beat: the bestsellers
of the person's favourite category, leaving out what they already bought, topped up with
overall bestsellers for people without a category (cold start)."""

from __future__ import annotations

import pandas as pd


def popular_in_favourite_category(
    people: pd.DataFrame,
    products: pd.DataFrame,
    purchases: pd.DataFrame,
    k: int = 3,
) -> pd.DataFrame:
    """people: person_id, favourite_category (may be null); products: product_id, category,
    units_sold; purchases: person_id, product_id (already owned). Returns person_id, rank,
    product_id, score (share of the category's sales), strategy."""
    ranked = products.assign(
        score=products["units_sold"]
        / products.groupby("category")["units_sold"].transform("sum").clip(lower=1)
    ).sort_values(["category", "units_sold", "product_id"], ascending=[True, False, True])
    shortlist = ranked.groupby("category").head(k + 20)
    overall = ranked.sort_values(["units_sold", "product_id"], ascending=[False, True]).head(k + 20)

    def pick(candidates: pd.DataFrame, strategy: str) -> pd.DataFrame:
        owned = purchases[["person_id", "product_id"]].drop_duplicates().assign(_owned=True)
        c = candidates.merge(owned, on=["person_id", "product_id"], how="left")
        c = c[c["_owned"].isna()].drop(columns="_owned")
        return c.assign(strategy=strategy)

    with_category = people[people["favourite_category"].notna()][
        ["person_id", "favourite_category"]
    ]
    by_category = pick(
        with_category.merge(shortlist, left_on="favourite_category", right_on="category"),
        "favourite_category_bestsellers",
    )
    by_overall = pick(people[["person_id"]].merge(overall, how="cross"), "overall_bestsellers")
    combined = pd.concat(
        [by_category, by_overall.assign(score=by_overall["score"] * 0.5)], ignore_index=True
    )
    combined = combined.drop_duplicates(["person_id", "product_id"], keep="first")
    combined["priority"] = (combined["strategy"] != "favourite_category_bestsellers").astype(int)
    combined = combined.sort_values(
        ["person_id", "priority", "units_sold", "product_id"], ascending=[True, True, False, True]
    )
    combined["rank"] = combined.groupby("person_id").cumcount() + 1
    top = combined[combined["rank"] <= k]
    return top[["person_id", "rank", "product_id", "score", "strategy"]].reset_index(drop=True)
