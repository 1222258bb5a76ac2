"""Planning a day's sends on a small in-memory warehouse: guards with their reasons,
frequency caps, the frozen plan, batches, and triggered newcomers."""

from datetime import date

import duckdb
import pandas as pd
import pytest

from email_render.assignment import HOLDOUT, assign
from email_render.campaign import Campaign, Variant
from orchestration.privacy import privacy_tables
from orchestration.segments.rules import Segment
from orchestration.sends import email_schema, planning

DAY = date(2026, 10, 31)
CAPS = planning.FrequencyCaps(per_day=1, per_week=3)
CAMPAIGN = Campaign(
    campaign_id="weekly",
    name="Weekly",
    template="weekly_picks",
    variants=(Variant("a", "A"), Variant("b", "B")),
    holdout_share=0.2,
    schedule={"every": "day"},
)
# Everyone marketable unless a column says otherwise.
MARKETABLE = {
    "has_marketing_consent": True,
    "is_unsubscribed": False,
    "has_complained": False,
    "has_hard_bounced": False,
    "is_email_valid": True,
    "days_since_last_order": 10,
}


@pytest.fixture
def conn(monkeypatch):
    monkeypatch.setenv("MAILPIPE_PRIVACY_SALT", "test-salt")
    with duckdb.connect() as c:
        c.execute("create schema marts")
        c.execute(
            "create table marts.fct_email_events (person_id varchar, campaign_id varchar,"
            " event_type varchar, occurred_at timestamp)"
        )
        email_schema.ensure_tables(c)
        privacy_tables.ensure_tables(c)
        yield c


def _customers(conn, rows: list[dict]) -> None:
    frame = pd.DataFrame(
        [{**MARKETABLE, "email": f"{r['person_id']}@example.com", **r} for r in rows]
    )
    conn.register("_customers", frame)
    conn.execute("create or replace table marts.dim_customers as select * from _customers")
    conn.unregister("_customers")


def _plan(conn) -> dict[str, str]:
    return dict(
        conn.execute(
            "select person_id, variant from email.send_plan where campaign_id = ? and send_date = ?",
            [CAMPAIGN.campaign_id, DAY],
        ).fetchall()
    )


def _exclusions(conn) -> dict[str, str]:
    return dict(conn.execute("select person_id, reason from email.send_exclusions").fetchall())


def test_each_guard_keeps_its_people_out_with_the_reason(conn):
    _customers(
        conn,
        [
            {"person_id": "ok"},
            {"person_id": "no_consent", "has_marketing_consent": False},
            {"person_id": "unsub", "is_unsubscribed": True},
            {"person_id": "complained", "has_complained": True},
            {"person_id": "bounced", "has_hard_bounced": True},
            {"person_id": "bad_email", "is_email_valid": False},
        ],
    )
    assert planning.plan(conn, CAMPAIGN, DAY, CAPS)
    assert set(_plan(conn)) == {"ok"}
    assert _exclusions(conn) == {
        "no_consent": "no_marketing_consent",
        "unsub": "unsubscribed",
        "complained": "complained",
        "bounced": "hard_bounced",
        "bad_email": "invalid_email",
    }


def test_frequency_caps_count_our_ledger_and_the_email_services_history(conn):
    _customers(conn, [{"person_id": "fresh"}, {"person_id": "today"}, {"person_id": "week"}])
    conn.execute(
        "insert into email.send_ledger values"
        " ('other', ?, 'today', 'a', 'm1', current_timestamp, null)",
        [DAY],
    )
    conn.execute(
        "insert into marts.fct_email_events values"
        " ('week', 'n1', 'sent', '2026-10-26 09:00'), ('week', 'n2', 'sent', '2026-10-28 09:00'),"
        " ('week', 'n3', 'sent', '2026-10-29 09:00'), ('fresh', 'n0', 'sent', '2026-10-20 09:00')"
    )
    planning.plan(conn, CAMPAIGN, DAY, CAPS)
    assert set(_plan(conn)) == {"fresh"}
    assert _exclusions(conn) == {"today": "frequency_cap_day", "week": "frequency_cap_week"}


def test_a_count_gives_the_plans_numbers_and_stores_nothing(conn):
    people = [{"person_id": f"p{i:03d}"} for i in range(200)]
    _customers(conn, [*people, {"person_id": "no_consent", "has_marketing_consent": False}])
    conn.execute(
        "insert into email.send_ledger values ('other', ?, 'p000', 'a', 'm1', current_timestamp, null)",
        [DAY],
    )
    counted = planning.count(conn, CAMPAIGN, DAY, CAPS)
    assert conn.execute("select count(*) from email.send_plan").fetchone() == (0,)
    assert counted["no_marketing_consent"] == 1 and counted["frequency_cap_day"] == 1
    planning.plan(conn, CAMPAIGN, DAY, CAPS)
    plan = _plan(conn)
    assert counted["held_out"] == sum(v == HOLDOUT for v in plan.values()) > 0
    assert counted["mailed"] == sum(v != HOLDOUT for v in plan.values())
    assert sum(counted.values()) == 201


def test_a_variant_removed_after_planning_is_an_error_that_says_what_to_do(conn):
    import dataclasses

    from email_render.campaign import CampaignError

    _customers(conn, [{"person_id": f"p{i:03d}"} for i in range(100)])
    planning.plan(conn, CAMPAIGN, DAY, CAPS)
    planning.check_frozen_plan(conn, CAMPAIGN, DAY)
    edited = dataclasses.replace(CAMPAIGN, variants=(Variant("a", "A"),), source_path="w.yaml")
    with pytest.raises(CampaignError, match="nothing was exported yet, so the plan is dropped"):
        planning.check_frozen_plan(conn, edited, DAY)
    conn.execute(
        "insert into email.send_ledger values ('weekly', ?, 'p001', 'b', 'm1', current_timestamp, null)",
        [DAY],
    )
    with pytest.raises(CampaignError) as error:
        planning.check_frozen_plan(conn, edited, DAY)
    assert str(error.value).startswith(
        "w.yaml: field 'variants': the plan for 2026-10-31 was made with variant 'b'"
    )
    assert "1 of its sends were exported already, so the plan stays" in str(error.value)


def test_a_higher_priority_send_is_not_held_back_by_the_newsletter_but_the_reverse_holds(conn):
    import dataclasses

    _customers(conn, [{"person_id": "ann"}, {"person_id": "ben"}])
    # Today ann had the daily newsletter (priority 0) and ben an order confirmation-like
    # trigger (priority 10).
    conn.execute(
        "insert into email.send_ledger values"
        " ('newsletter', ?, 'ann', 'a', 'm1', current_timestamp, null),"
        " ('order-note', ?, 'ben', 'a', 'm2', current_timestamp, null)",
        [DAY, DAY],
    )
    triggered = dataclasses.replace(CAMPAIGN, campaign_id="cart", priority=10, holdout_share=0.0)
    caps = planning.FrequencyCaps(
        per_day=1,
        per_week=3,
        priorities=(("newsletter", 0), ("order-note", 10), ("cart", 10), ("weekly", 0)),
    )
    assert planning.count(conn, triggered, DAY, caps) == {"mailed": 1, "frequency_cap_day": 1}
    assert planning.plan(conn, triggered, DAY, caps)
    planned = conn.execute("select person_id from email.send_plan where campaign_id = 'cart'")
    assert planned.fetchall() == [("ann",)]
    # The priority-0 campaign is held back by either send.
    weekly = dataclasses.replace(CAMPAIGN, holdout_share=0.0)
    assert planning.count(conn, weekly, DAY, caps) == {"frequency_cap_day": 2}


def test_the_days_plan_is_frozen_with_stable_variants_and_batches_in_person_order(conn):
    people = [f"p{i:03d}" for i in range(250)]
    _customers(conn, [{"person_id": p} for p in people])
    assert planning.plan(conn, CAMPAIGN, DAY, CAPS, batch_size=50)
    first = _plan(conn)
    assert first == {p: assign(CAMPAIGN, p) for p in people}
    assert 0.1 < sum(v == HOLDOUT for v in first.values()) / len(first) < 0.3
    # A rerun, even after the customer view changed, keeps the plan as it was.
    _customers(conn, [{"person_id": p, "is_unsubscribed": True} for p in people])
    assert not planning.plan(conn, CAMPAIGN, DAY, CAPS, batch_size=50)
    assert _plan(conn) == first
    batches = conn.execute(
        "select batch_no, min(person_id), max(person_id), count(*) from email.send_plan"
        " where variant <> 'holdout' group by 1 order by 1"
    ).fetchall()
    assert [b[0] for b in batches] == list(range(len(batches)))
    assert all(b[3] == 50 for b in batches[:-1])
    assert all(a[2] < b[1] for a, b in zip(batches, batches[1:], strict=False))
    assert conn.execute(
        "select count(*) from email.send_plan where variant = 'holdout' and batch_no is not null"
    ).fetchone() == (0,)


def test_an_audience_rule_and_a_library_segment_narrow_the_plan(conn):
    _customers(
        conn,
        [
            {"person_id": "recent", "days_since_last_order": 5},
            {"person_id": "lapsed", "days_since_last_order": 90},
        ],
    )
    lapsed = Segment("lapsed", "d", "o", {"field": "days_since_last_order", "gt": 60}, "t.yml")
    campaign = Campaign(**{**CAMPAIGN.__dict__, "audience": {"segment": "lapsed"}})
    planning.plan(conn, campaign, DAY, CAPS, [lapsed])
    assert set(_plan(conn)) | set(_exclusions(conn)) == {"lapsed"}


def test_a_trigger_adds_only_newcomers_through_the_same_guards(conn):
    _customers(conn, [{"person_id": "ann"}, {"person_id": "bob"}, {"person_id": "cy"}])
    triggered = Campaign(**{**CAMPAIGN.__dict__, "holdout_share": 0.0, "schedule": None})
    people = pd.DataFrame({"person_id": ["ann"], "variant": ["main"]})
    assert planning.plan_people(conn, triggered, DAY, planning.FrequencyCaps(5, 5), people) == 1
    people = pd.DataFrame({"person_id": ["ann", "bob"], "variant": ["main", "alternative"]})
    assert planning.plan_people(conn, triggered, DAY, planning.FrequencyCaps(5, 5), people) == 1
    assert _plan(conn) == {"ann": "main", "bob": "alternative"}
    batches = conn.execute("select person_id, batch_no from email.send_plan order by 1").fetchall()
    assert batches == [("ann", 0), ("bob", 1)]


def test_the_plan_freezes_each_persons_stage_rfm_segment_and_segments_when_assigned(conn):
    _customers(
        conn,
        [
            {"person_id": "ann", "lifecycle_stage": "lapsed", "rfm_segment": "hibernating"},
            {"person_id": "bob", "lifecycle_stage": "active", "rfm_segment": "champions"},
        ],
    )
    conn.execute(
        "create table marts.customer_segments as select * from (values"
        " ('ann', 'win_back_candidates'), ('ann', 'lapsed_buyers'), ('bob', 'loyal_buyers'))"
        " as t(person_id, segment_name)"
    )
    planning.plan(conn, CAMPAIGN, DAY, CAPS)
    # Ann wins herself back the next day: the plan still says what she was when assigned.
    conn.execute("update marts.dim_customers set lifecycle_stage = 'active'")
    frozen = {
        person: (stage, rfm, list(segments))
        for person, stage, rfm, segments in conn.execute(
            "select person_id, lifecycle_stage, rfm_segment, segments from email.send_plan"
        ).fetchall()
    }
    assert frozen == {
        "ann": ("lapsed", "hibernating", ["lapsed_buyers", "win_back_candidates"]),
        "bob": ("active", "champions", ["loyal_buyers"]),
    }
