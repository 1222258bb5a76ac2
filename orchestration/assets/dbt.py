"""The dbt project as assets: staging views, identity resolution and marts, with dbt tests
as asset checks."""

import os
from collections.abc import Mapping
from typing import Any

import dagster as dg
from dagster_dbt import DagsterDbtTranslator, DbtCliResource, DbtProject, dbt_assets

from orchestration.lib import settings

dbt_project = DbtProject(
    project_dir=settings.dbt_project_dir(), profiles_dir=settings.dbt_project_dir()
)


class StageTranslator(DagsterDbtTranslator):
    """Keys models by name (dim_customers) and sources as raw/<table>, the loader's assets;
    groups nodes by stage: staging views and seeds, then marts (intermediate included)."""

    def get_asset_key(self, dbt_resource_props: Mapping[str, Any]) -> dg.AssetKey:
        if dbt_resource_props["resource_type"] == "source":
            # ml.* are the ML assets' own tables (customer_scores); raw.* are the loader's;
            # email.send_plan is written by the campaign_sends asset.
            if dbt_resource_props["source_name"] == "ml":
                return dg.AssetKey([dbt_resource_props["name"]])
            if dbt_resource_props["source_name"] == "email":
                return dg.AssetKey(["campaign_sends"])
            return dg.AssetKey([dbt_resource_props["source_name"], dbt_resource_props["name"]])
        return dg.AssetKey([dbt_resource_props["name"]])

    def get_group_name(self, dbt_resource_props: Mapping[str, Any]) -> str | None:
        folder = dbt_resource_props.get("fqn", ["", ""])[1]
        return (
            "staging"
            if dbt_resource_props["resource_type"] == "seed" or folder == "staging"
            else "marts"
        )


@dbt_assets(
    manifest=dbt_project.manifest_path,
    project=dbt_project,
    dagster_dbt_translator=StageTranslator(),
)
def dbt_models(context: dg.AssetExecutionContext, dbt: DbtCliResource):
    """Builds and tests every dbt model and seed."""
    # dbt runs in a subprocess that reads the warehouse path from its profile's env_var.
    os.environ["MAILPIPE_WAREHOUSE_PATH"] = str(settings.warehouse_path())
    # Dagster runs the dbt graph in steps around the ML assets (dim_customers reads the
    # scores); a test that spans steps runs in the step where all its parents exist.
    os.environ["DBT_INDIRECT_SELECTION"] = "buildable"
    yield from dbt.cli(["build"], context=context).stream()
