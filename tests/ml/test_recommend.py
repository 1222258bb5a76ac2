import pandas as pd
import pytest

from ml import recommend
from ml.recommend import popular_in_favourite_category

PRODUCTS = pd.DataFrame(
    {
        "product_id": ["s1", "s2", "s3", "s4", "h1", "h2"],
        "category": ["shoes", "shoes", "shoes", "shoes", "home", "home"],
        "units_sold": [50, 40, 30, 1, 100, 90],
    }
)


def test_bestsellers_of_the_favourite_category_without_what_they_own():
    people = pd.DataFrame({"person_id": ["ann"], "favourite_category": ["shoes"]})
    owned = pd.DataFrame({"person_id": ["ann"], "product_id": ["s1"]})
    recs = popular_in_favourite_category(people, PRODUCTS, owned, k=3)
    assert recs["product_id"].tolist() == ["s2", "s3", "s4"]
    assert recs["rank"].tolist() == [1, 2, 3]


def test_people_without_a_category_get_overall_bestsellers():
    people = pd.DataFrame({"person_id": ["new"], "favourite_category": [None]})
    recs = popular_in_favourite_category(
        people, PRODUCTS, pd.DataFrame(columns=["person_id", "product_id"]), k=3
    )
    assert recs["product_id"].tolist() == ["h1", "h2", "s1"]
    assert set(recs["strategy"]) == {"overall_bestsellers"}


def _order_items(rows):
    return pd.DataFrame(
        [
            {
                "person_id": person,
                "product_id": product,
                "category": PRODUCTS.set_index("product_id").loc[product, "category"],
                "quantity": 1,
                "ordered_at": pd.Timestamp(day),
            }
            for person, product, day in rows
        ]
    )


NO_WEB = pd.DataFrame(
    {"person_id": [], "event_type": [], "product_id": [], "occurred_at": pd.to_datetime([])}
)


def test_item_item_recommends_what_people_with_the_same_taste_bought():
    # Buyers of s4 (a slow seller) also buy h2; ann bought s4 and should be shown h2 first,
    # where popularity would show her s1.
    rows = [(f"u{i}", p, "2026-01-05") for i in range(5) for p in ("s4", "h2")]
    rows += [(f"v{i}", p, "2026-01-05") for i in range(20) for p in ("s1", "h1")]
    rows += [("ann", "s4", "2026-01-06")]
    items = _order_items(rows)
    people = pd.DataFrame({"person_id": ["ann"], "favourite_category": ["shoes"]})
    both = recommend.recommend(people, PRODUCTS, items, NO_WEB, "2026-02-01", k=3)
    cf = both["item_item"]
    assert cf["product_id"].iloc[0] == "h2"
    assert cf["strategy"].iloc[0] == "item_item"
    assert "s4" not in set(cf["product_id"])  # already owned
    assert both["popularity"]["product_id"].iloc[0] == "s1"


def test_views_and_cart_adds_count_as_taste_too():
    rows = [(f"u{i}", p, "2026-01-05") for i in range(5) for p in ("s3", "h2")]
    web = pd.DataFrame(
        {
            "person_id": ["bob", "bob"],
            "event_type": ["product_view", "add_to_cart"],
            "product_id": ["s3", "s3"],
            "occurred_at": pd.to_datetime(["2026-01-07", "2026-01-07"]),
        }
    )
    people = pd.DataFrame({"person_id": ["bob"], "favourite_category": [None]})
    cf = recommend.recommend(people, PRODUCTS, _order_items(rows), web, "2026-02-01")["item_item"]
    assert cf["product_id"].iloc[0] == "h2"


def test_cold_start_people_get_bestsellers_of_their_favourite_category():
    rows = [(f"u{i}", p, "2026-01-05") for i in range(5) for p in ("s1", "h2")]
    people = pd.DataFrame({"person_id": ["new"], "favourite_category": ["home"]})
    cf = recommend.recommend(people, PRODUCTS, _order_items(rows), NO_WEB, "2026-02-01")[
        "item_item"
    ]
    assert cf["product_id"].tolist() == ["h1", "h2", "s1"]
    assert set(cf["strategy"]) == {"favourite_category_bestsellers", "overall_bestsellers"}


def test_holdout_scores_collaborative_filtering_against_the_popularity_baseline():
    """Planted taste: s4 buyers go on to buy h2. Item-item sees it; popularity cannot."""
    rows = []
    for i in range(30):
        rows += [(f"old{i}", "s4", "2026-01-01"), (f"old{i}", "h2", "2026-01-02")]
        rows += [(f"new{i}", "s4", "2026-02-01"), (f"new{i}", "h2", "2026-03-10")]
    for i in range(60):
        rows += [(f"pop{i}", "s1", "2026-01-03"), (f"pop{i}", "h1", "2026-01-03")]
    result = recommend.holdout_evaluation(
        _order_items(rows), NO_WEB, PRODUCTS, pd.Timestamp("2026-03-31"), horizon_days=30
    )
    assert result["item_item"]["recall_at_3"] == 1.0
    assert result["popularity"]["recall_at_3"] < 0.5
    assert result["item_item"]["precision_at_3"] == pytest.approx(1 / 3)
    assert result["item_item"]["people_evaluated"] == 30
    assert 0 < result["popularity"]["catalogue_coverage"] <= 1


def test_a_one_product_catalogue_gets_that_product_or_nothing_and_no_error():
    products = pd.DataFrame({"product_id": ["only"], "category": ["home"], "units_sold": [9]})
    items = pd.DataFrame(
        {
            "person_id": ["ann", "bob"],
            "product_id": ["only", "only"],
            "category": ["home", "home"],
            "quantity": [1, 1],
            "ordered_at": pd.to_datetime(["2026-01-01", "2026-01-02"]),
        }
    )
    web = pd.DataFrame(columns=["person_id", "event_type", "product_id", "occurred_at"])
    web["occurred_at"] = pd.to_datetime(web["occurred_at"])
    people = pd.DataFrame({"person_id": ["ann", "cy"], "favourite_category": ["home", None]})
    recs = recommend.recommend(people, products, items, web, "2026-02-01")["item_item"]
    assert recs.loc[recs["person_id"] == "cy", "product_id"].tolist() == ["only"]
    assert recs[recs["person_id"] == "ann"].empty  # owns the whole catalogue
    evaluation = recommend.holdout_evaluation(items, web, products, "2026-02-01", 30)
    assert set(evaluation) == {"item_item", "popularity"}


def test_interactions_sum_each_persons_weights_before_the_cutoff_and_mark_what_they_bought():
    items = _order_items([("ann", "s1", "2026-01-05"), ("ann", "s1", "2026-01-06")])
    web = pd.DataFrame(
        {
            "person_id": ["ann", "ann", "bob", "bob", "bob", "cat"],
            "event_type": [
                "product_view",
                "add_to_cart",
                "product_view",
                "search",
                "product_view",
                "product_view",
            ],
            "product_id": ["s1", "s2", "h1", None, "h1", "gone-from-catalogue"],
            "occurred_at": pd.to_datetime(
                ["2026-01-07", "2026-01-08", "2026-01-09", "2026-01-09", "2026-03-01", "2026-01-09"]
            ),
        }
    )
    products = pd.Index(PRODUCTS["product_id"])
    found = recommend.interactions(items, web, "2026-02-01", pd.Index(["zed", "ann"]), products)
    # The people asked about first, in their order, even without interactions; then the rest.
    assert found.people.tolist() == ["zed", "ann", "bob"]
    weights = pd.DataFrame(found.weights.toarray(), index=found.people, columns=products)
    assert weights.loc["ann", "s1"] == 3.0 + 3.0 + 1.0  # two purchases and a view
    assert weights.loc["ann", "s2"] == 2.0
    assert weights.loc["bob", "h1"] == 1.0, "the view after the cutoff does not count"
    assert weights.loc["zed"].sum() == 0
    owned = pd.DataFrame(found.owned.toarray(), index=found.people, columns=products)
    assert owned.loc["ann", "s1"] == 1 and owned.to_numpy().sum() == 1
