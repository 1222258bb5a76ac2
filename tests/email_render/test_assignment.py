import duckdb
import pytest

from email_render.assignment import HOLDOUT, assign, assignment_sql
from email_render.campaign import Campaign, Variant

CAMPAIGN = Campaign(
    campaign_id="spring",
    name="Spring",
    template="weekly_picks",
    variants=(Variant("a", "A"), Variant("b", "B", weight=3)),
    holdout_share=0.2,
    schedule={"every": "day"},
)


def test_assignments_are_stable_across_runs():
    people = [f"p_{i}" for i in range(1000)]
    assert [assign(CAMPAIGN, p) for p in people] == [assign(CAMPAIGN, p) for p in people]


def test_groups_follow_the_holdout_share_and_variant_weights():
    groups = [assign(CAMPAIGN, f"p_{i}") for i in range(20_000)]
    share = {g: groups.count(g) / len(groups) for g in (HOLDOUT, "a", "b")}
    assert abs(share[HOLDOUT] - 0.2) < 0.015
    assert abs(share["a"] - 0.2) < 0.015 and abs(share["b"] - 0.6) < 0.015


def test_another_campaign_shuffles_people_independently():
    other = Campaign(**{**CAMPAIGN.__dict__, "campaign_id": "autumn"})
    same = sum(assign(CAMPAIGN, f"p_{i}") == assign(other, f"p_{i}") for i in range(5000)) / 5000
    assert same < 0.6


@pytest.mark.parametrize(
    "campaign",
    [
        CAMPAIGN,
        Campaign(**{**CAMPAIGN.__dict__, "holdout_share": 0.0}),
        Campaign(**{**CAMPAIGN.__dict__, "holdout_share": 1.0}),
        Campaign(
            **{
                **CAMPAIGN.__dict__,
                "variants": tuple(Variant(n, n) for n in "abc"),
            }
        ),
    ],
)
def test_the_warehouse_assigns_everyone_to_the_same_group_as_python(campaign):
    people = [f"p_{i}" for i in range(20_000)] + ["ünïcode-ø", "with'quote", ""]
    expression, params = assignment_sql(campaign, "person_id")
    in_sql = duckdb.execute(
        f"select person_id, {expression} from unnest(?) as t(person_id) order by person_id",
        [*params, people],
    ).fetchall()
    assert dict(in_sql) == {p: assign(campaign, p) for p in people}
