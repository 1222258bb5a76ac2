import pandas as pd

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
