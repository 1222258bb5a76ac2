"""What the Dagster UI shows before anything runs: described assets in stage groups whose
lineage reads left to right."""

import graphlib

import pytest

STAGES = ["raw", "staging", "core", "ml", "customer", "email", "reporting"]


@pytest.fixture(scope="module")
def graph():
    from orchestration.definitions import build_definitions

    return build_definitions().resolve_asset_graph()


def _group_edges(graph) -> set[tuple[str, str]]:
    edges = set()
    for key in graph.get_all_asset_keys():
        node = graph.get(key)
        for parent in node.parent_keys:
            upstream = graph.get(parent).group_name
            if upstream != node.group_name:
                edges.add((upstream, node.group_name))
    return edges


def test_every_asset_is_described_and_in_a_stage_group(graph):
    keys = {k.to_user_string() for k in graph.get_all_asset_keys()}
    for expected in (
        "raw/crm_customers",
        "identity_links",
        "fct_orders",
        "purchase_propensity_model",
        "customer_scores",
        "dim_customers",
        "customer_segments",
        "segment_size_history",
        "send_audience",
        "campaign_sends",
        "campaign_report",
    ):
        assert expected in keys
    for key in graph.get_all_asset_keys():
        node = graph.get(key)
        assert node.group_name in STAGES, key
        assert node.description, f"{key.to_user_string()} has no description"
    checks = {k.name for k in graph.asset_check_keys}
    assert {
        "dim_customers_meets_expectations",
        "send_audience_is_consented_and_valid",
        "segment_sizes_are_within_bounds",
    } <= checks


def test_the_group_lineage_has_no_cycle_and_reads_in_stage_order(graph):
    edges = _group_edges(graph)
    sorter = graphlib.TopologicalSorter()
    for upstream, downstream in edges:
        sorter.add(downstream, upstream)
    list(sorter.static_order())  # raises CycleError on a cycle
    for upstream, downstream in edges:
        assert STAGES.index(upstream) < STAGES.index(downstream), (upstream, downstream)


def test_segments_are_dbt_models_in_the_customer_group(graph):
    import dagster as dg

    for name in ("customer_segments", "segment_size_history", "dim_customers", "customer_rfm"):
        node = graph.get(dg.AssetKey(name))
        assert node.group_name == "customer", name
        assert "dbt" in node.kinds, name
