"""Send history follows people who were merged into earlier ones."""

import duckdb

from orchestration.sends import email_schema


def test_merged_peoples_send_history_moves_to_the_end_of_the_merge_chain():
    conn = duckdb.connect()
    email_schema.ensure_tables(conn)
    conn.execute("create schema marts")
    conn.execute(
        "create table marts.identity_merges as select * from (values"
        " ('p_a', 'p_b'), ('p_b', 'p_c')) as t(merged_person_id, surviving_person_id)"
    )
    conn.execute(
        """
        insert into email.send_ledger values
            ('spring', date '2026-06-01', 'p_a', 'a', 'm1', timestamp '2026-06-01', null),
            ('spring', date '2026-06-01', 'p_c', 'a', 'm2', timestamp '2026-06-01', null),
            ('summer', date '2026-07-01', 'p_a', 'b', 'm3', timestamp '2026-07-01', null),
            ('summer', date '2026-07-01', 'p_z', 'b', 'm4', timestamp '2026-07-01', null)
        """
    )

    moved = email_schema.follow_identity_merges(conn)
    again = email_schema.follow_identity_merges(conn)

    assert moved["send_ledger"] == 1 and again["send_ledger"] == 0
    rows = conn.execute(
        "select campaign_id, person_id from email.send_ledger order by all"
    ).fetchall()
    assert rows == [
        ("spring", "p_a"),  # the survivor already had this send: both stay, as history
        ("spring", "p_c"),
        ("summer", "p_c"),
        ("summer", "p_z"),
    ]


def test_without_identity_merges_nothing_moves():
    conn = duckdb.connect()
    email_schema.ensure_tables(conn)

    assert email_schema.follow_identity_merges(conn) == {}
