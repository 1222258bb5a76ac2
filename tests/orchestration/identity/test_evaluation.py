"""Identity scores say how much of the truth any resolver could reach."""

import duckdb

from orchestration.identity.evaluation import identity_scores


def test_a_browser_that_never_identified_lowers_the_ceiling_not_just_the_recall(tmp_path):
    # Ann: a CRM record, an order and two browsers, one of which never logged in.
    # Ben: a CRM record and an order the resolver failed to link.
    (tmp_path / "records.csv").write_text(
        "source_table,record_id,person_key\n"
        "crm_customers,C1,ann\nshop_orders,O1,ann\nweb_events,A1,ann\nweb_events,A2,ann\n"
        "crm_customers,C2,ben\nshop_orders,O2,ben\n"
    )
    with duckdb.connect(str(tmp_path / "w.duckdb")) as conn:
        conn.execute("create schema marts")
        conn.execute("create schema intermediate")
        conn.execute(
            "create table marts.identity_links as select * from (values"
            " ('crm_customers:C1', 'crm_customers', 'C1', 'p1'),"
            " ('shop_orders:O1', 'shop_orders', 'O1', 'p1'),"
            " ('web_events:A1', 'web_events', 'A1', 'p1'),"
            " ('web_events:A2', 'web_events', 'A2', 'p2'),"
            " ('crm_customers:C2', 'crm_customers', 'C2', 'p3'),"
            " ('shop_orders:O2', 'shop_orders', 'O2', 'p4'))"
            " as t(record_key, source_table, record_id, person_id)"
        )
        conn.execute(
            "create table intermediate.int_identifiers_extracted as select * from (values"
            " ('crm_customers:C1', 'record'), ('crm_customers:C1', 'email'),"
            " ('shop_orders:O1', 'record'), ('shop_orders:O1', 'email'),"
            " ('web_events:A1', 'record'), ('web_events:A1', 'anonymous id'),"
            " ('web_events:A1', 'login'),"
            " ('web_events:A2', 'record'), ('web_events:A2', 'anonymous id'),"
            " ('crm_customers:C2', 'record'), ('crm_customers:C2', 'email'),"
            " ('shop_orders:O2', 'record'), ('shop_orders:O2', 'email'))"
            " as t(record_key, link_rule)"
        )
        scores = identity_scores(conn, tmp_path)

    # True pairs: Ann 6, Ben 1. Linked: Ann's three. Reachable: Ann's three, Ben's one.
    assert scores.true_pairs == 7 and scores.correct_pairs == 3
    assert scores.records_without_identifiers == 1
    assert scores.recall_ceiling == 4 / 7
    assert scores.precision == 1.0
