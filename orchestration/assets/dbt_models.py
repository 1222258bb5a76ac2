"""The dbt project as assets: staging views, identity resolution and facts, the customer
view and segments, campaign measurement; dbt tests are asset checks."""

import json
import os
import shutil
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import dagster as dg
from dagster_dbt import DagsterDbtTranslator, DbtCliResource, DbtProject, dbt_assets
from dagster_duckdb import DuckDBResource

from orchestration import settings
from orchestration.identity.explanations import identity_metadata

IDENTITY_LINKS = dg.AssetKey(["identity_links"])
PARTIAL_PARSE = "partial_parse.msgpack"

dbt_project = DbtProject(
    project_dir=settings.dbt_project_dir(), profiles_dir=settings.dbt_project_dir()
)


class StageTranslator(DagsterDbtTranslator):
    """Keys models by name (dim_customers) and sources as raw/<table>, the loader's assets.
    Groups come from dbt_project.yml (`meta.dagster.group`, one per stage folder)."""

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


@dbt_assets(
    manifest=dbt_project.manifest_path,
    project=dbt_project,
    dagster_dbt_translator=StageTranslator(),
)
def dbt_models(context: dg.AssetExecutionContext, dbt: DbtCliResource, duckdb: DuckDBResource):
    """Builds and tests every dbt model and seed."""
    # dbt runs in a subprocess: the warehouse and segment library of this run go as vars.
    dbt_vars = json.dumps(settings.dbt_vars())
    # identity_links' explanation reads the warehouse, which dbt holds until it finishes;
    # outputs must keep dbt's order, so its output and everything after it wait for the end.
    held = []
    invocation = dbt.cli(["build", "--vars", dbt_vars], context=context)
    for event in invocation.stream():
        if not held and not (
            isinstance(event, dg.Output)
            and context.asset_key_for_output(event.output_name) == IDENTITY_LINKS
        ):
            yield event
        else:
            held.append(event)
    _keep_parse(Path(invocation.target_path))
    if held:
        with duckdb.get_connection() as conn:
            extra = identity_metadata(conn, settings.identity_match_threshold())
        output, *rest = held
        yield output.with_metadata({**output.metadata, **_as_metadata(extra)})
        yield from rest


def _keep_parse(invocation_target: Path) -> None:
    """Let the run's next dbt step start from this one's parse. dagster-dbt starts every
    invocation from target/partial_parse.msgpack, which `dbt parse` wrote without the run's
    vars, so each one parsed the whole project again (6.5 s against 3.8 s from a parse of
    the same vars); the file this invocation left was parsed with them."""
    parsed = invocation_target / PARTIAL_PARSE
    if not parsed.exists():
        return
    shared = Path(dbt_project.project_dir) / dbt_project.target_path / PARTIAL_PARSE
    # Renamed into place: a run starting now reads the old file or this one, never half.
    partial = shared.with_name(f"{PARTIAL_PARSE}.{os.getpid()}")
    shutil.copyfile(parsed, partial)
    os.replace(partial, shared)


def _as_metadata(values: dict) -> dict[str, dg.MetadataValue]:
    out = {}
    for key, value in values.items():
        if isinstance(value, dict):
            out[key] = dg.MetadataValue.json(value)
        elif isinstance(value, str) and "\n" in value:
            out[key] = dg.MetadataValue.md(value)
        else:
            out[key] = value
    return out
