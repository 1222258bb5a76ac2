"""The dbt project keeps its promises to the analytics engineers who edit it."""

import json

import pytest

from orchestration import settings


@pytest.fixture(scope="module")
def manifest(dbt_manifest):
    return json.loads(dbt_manifest.read_text())


def _models(manifest):
    return [n for n in manifest["nodes"].values() if n["resource_type"] == "model"]


def test_every_model_opens_its_description_with_its_grain(manifest):
    for model in _models(manifest):
        assert model["description"].startswith("One row"), model["name"]


def test_every_mart_enforces_a_contract_with_typed_documented_columns(manifest):
    marts = [m for m in _models(manifest) if m["fqn"][1] == "marts"]
    assert {"dim_customers", "fct_orders", "customer_rfm", "identity_links"} <= {
        m["name"] for m in marts
    }
    for model in marts:
        assert model["config"]["contract"]["enforced"], model["name"]
        for column in model["columns"].values():
            assert column["data_type"] and column["description"], (
                f"{model['name']}.{column['name']}"
            )


def test_every_model_has_a_key_tested_unique_and_not_null(manifest):
    tests = [n for n in manifest["nodes"].values() if n["resource_type"] == "test"]
    keyed = {}
    for test in tests:
        meta = test.get("test_metadata") or {}
        if meta.get("name") in ("unique", "not_null") and test.get("attached_node"):
            keyed.setdefault((test["attached_node"], test.get("column_name")), set()).add(
                meta["name"]
            )
        if meta.get("name") == "unique_combination_of_columns" and test.get("attached_node"):
            keyed.setdefault((test["attached_node"], "compound"), set()).update(
                {"unique", "not_null"}
            )
    for model in _models(manifest):
        if model["name"] == "int_identifiers_extracted":
            continue  # one row per record and identifier: a link table without a key of its own
        assert any(
            node == model["unique_id"] and kinds == {"unique", "not_null"}
            for (node, _), kinds in keyed.items()
        ), model["name"]


def test_sources_are_read_only_in_staging_views(manifest):
    for model in _models(manifest):
        uses_source = bool(model["sources"])
        assert uses_source == (model["fqn"][1] == "staging"), model["name"]
        if model["fqn"][1] == "staging":
            assert model["config"]["materialized"] == "view"
            assert model["name"].startswith("stg_") and "__" in model["name"]


def test_the_profile_defaults_to_the_project_warehouse():
    profile = (settings.dbt_project_dir() / "profiles.yml").read_text()
    assert "env_var('MAILPIPE_WAREHOUSE_PATH', '../data/warehouse.duckdb')" in profile
