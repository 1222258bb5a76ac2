"""Journey triggers, exits and decision points on a small hand-made warehouse."""

from datetime import date, datetime

import duckdb
import pytest

from email_render.campaign import CampaignError
from email_render.journeys import ALTERNATIVE, MAIN, load_journeys
from email_render.render import TEMPLATES_DIR
from orchestration import settings
from orchestration.sends import email_schema, journey_state

AS_OF = datetime(2026, 10, 31, 12, 0)


@pytest.fixture
def shipped():
    return {j.journey_id: j for j in load_journeys(settings.journeys_dir(), TEMPLATES_DIR)}


@pytest.fixture
def conn(data_dir):
    with duckdb.connect(str(data_dir / "warehouse.duckdb")) as c:
        c.execute("create schema marts")
        c.execute(
            "create table marts.fct_web_events (person_id varchar, session_id varchar,"
            " event_type varchar, product_id varchar, occurred_at timestamp)"
        )
        c.execute(
            "create table marts.fct_orders (order_id varchar, person_id varchar, ordered_at timestamp)"
        )
        c.execute(
            "create table marts.fct_email_events (person_id varchar, campaign_id varchar,"
            " event_type varchar, occurred_at timestamp)"
        )
        c.execute("create table marts.dim_customers (person_id varchar, signed_up_at timestamp)")
        email_schema.ensure_tables(c)
        yield c


def test_the_shipped_journeys_load_with_their_steps(shipped):
    assert set(shipped) == {"cart-abandonment", "browse-abandonment", "post-purchase", "welcome"}
    welcome = shipped["welcome"]
    assert [s.after_hours / 24 for s in welcome.steps] == [0, 7, 30]
    assert [s.campaign.campaign_id for s in welcome.steps] == [
        "welcome-welcome",
        "welcome-showcase",
        "welcome-loyalty",
    ]
    assert [v.name for v in welcome.steps[1].campaign.variants] == [MAIN, ALTERNATIVE]


def test_a_journey_file_with_an_error_names_the_file_and_field(tmp_path):
    (tmp_path / "bad.yaml").write_text(
        "journey_id: bad\ntrigger: cart_abandoned\nsteps:\n"
        "  - {name: one, after_hours: 5, template: journey_cart, subject: x}\n"
        "  - {name: two, after_hours: 2, template: journey_cart, subject: y}\n"
    )
    with pytest.raises(CampaignError, match=r"bad.yaml: field 'steps\[1\].after_hours'"):
        load_journeys(tmp_path, TEMPLATES_DIR)
    (tmp_path / "bad.yaml").write_text("journey_id: bad\ntrigger: moon_phase\nsteps: []\n")
    with pytest.raises(CampaignError, match="bad.yaml: field 'trigger'"):
        load_journeys(tmp_path, TEMPLATES_DIR)


def test_an_abandoned_cart_enters_once_and_a_cart_that_was_bought_does_not(conn, shipped):
    cart = shipped["cart-abandonment"]
    conn.execute(
        """
        insert into marts.fct_web_events values
            ('ann', 's1', 'add_to_cart', 'p1', '2026-10-31 09:00'),
            ('ann', 's1', 'add_to_cart', 'p2', '2026-10-31 09:10'),
            ('ben', 's2', 'add_to_cart', 'p1', '2026-10-31 09:00'),
            ('cat', 's3', 'add_to_cart', 'p1', '2026-10-31 11:30'),
            ('dan', 's4', 'add_to_cart', 'p1', '2026-10-29 09:00')
        """
    )
    conn.execute("insert into marts.fct_orders values ('o1', 'ben', '2026-10-31 09:40')")
    assert (
        journey_state.enter(conn, cart, AS_OF) == 1
    )  # ben bought, cat is within the hour, dan is old
    assert journey_state.enter(conn, cart, AS_OF) == 0  # once per cart, however often it runs
    state = conn.execute(
        "select person_id, entry_key, entered_at from email.journey_state"
    ).fetchall()
    assert state == [("ann", "s1", datetime(2026, 10, 31, 9, 10))]
    assert journey_state.due(conn, cart, 0, AS_OF)["person_id"].tolist() == ["ann"]


def test_a_purchase_ends_the_journey(conn, shipped):
    cart = shipped["cart-abandonment"]
    conn.execute(
        "insert into marts.fct_web_events values ('ann', 's1', 'add_to_cart', 'p1', '2026-10-31 09:00')"
    )
    journey_state.enter(conn, cart, AS_OF)
    conn.execute("insert into marts.fct_orders values ('o1', 'ann', '2026-10-31 11:00')")
    assert journey_state.exit_buyers(conn, cart, AS_OF) == 1
    assert journey_state.due(conn, cart, 0, AS_OF).empty
    assert conn.execute("select status, exit_reason from email.journey_state").fetchall() == [
        ("exited", "purchased")
    ]


def test_opened_but_not_clicked_gets_the_alternative_follow_up(conn, shipped):
    welcome = shipped["welcome"]
    conn.execute(
        """
        insert into marts.dim_customers values
            ('ann', '2026-10-20 08:00'), ('ben', '2026-10-20 08:00'), ('cat', '2026-10-20 08:00'),
            ('dan', '2026-10-30 08:00'), ('eve', '2026-08-01 08:00')
        """
    )
    assert journey_state.enter(conn, welcome, AS_OF) == 4  # eve signed up too long ago
    conn.execute(
        "update email.journey_state set next_step = 1 where person_id in ('ann', 'ben', 'cat')"
    )
    conn.execute(
        """
        insert into marts.fct_email_events values
            ('ann', 'welcome-welcome', 'open', '2026-10-20 09:00'),
            ('ben', 'welcome-welcome', 'open', '2026-10-20 09:00'),
            ('ben', 'welcome-welcome', 'click', '2026-10-20 09:01')
        """
    )
    showcase = journey_state.due(conn, welcome, 1, AS_OF)
    assert dict(zip(showcase["person_id"], showcase["variant"], strict=True)) == {
        "ann": ALTERNATIVE,  # opened, did not click
        "ben": MAIN,
        "cat": MAIN,  # never opened
    }
    assert journey_state.due(conn, welcome, 0, AS_OF)["person_id"].tolist() == ["dan"]
    assert journey_state.due(conn, welcome, 2, AS_OF).empty  # day 30 has not come for anyone


def test_sent_steps_move_on_and_excluded_people_leave_except_when_capped(conn, shipped):
    welcome = shipped["welcome"]
    conn.execute(
        "insert into marts.dim_customers values ('ann', '2026-10-30 08:00'),"
        " ('ben', '2026-10-30 08:00'), ('cat', '2026-10-30 08:00')"
    )
    journey_state.enter(conn, welcome, AS_OF)
    conn.execute(
        "insert into email.send_ledger values"
        " ('welcome-welcome', '2026-10-31', 'ann', 'main', 'm1', current_timestamp, null)"
    )
    conn.execute(
        "insert into email.send_exclusions values"
        " ('welcome-welcome', '2026-10-31', 'ben', 'no_marketing_consent'),"
        " ('welcome-welcome', '2026-10-31', 'cat', 'frequency_cap_day')"
    )
    moved, left = journey_state.advance(conn, welcome, 0, date(2026, 10, 31))
    assert (moved, left) == (1, 1)
    state = dict(
        (p, (s, n))
        for p, s, n in conn.execute(
            "select person_id, status, next_step from email.journey_state"
        ).fetchall()
    )
    assert state == {"ann": ("active", 1), "ben": ("exited", 0), "cat": ("active", 0)}
