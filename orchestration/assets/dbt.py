"""All dbt models as Dagster assets, with dbt tests as asset checks.

The translator is rule based: a model's key is [<its schema>, <its name>] (marts/fct_...),
a source's key is [<source name>, <table>] (raw/observations, ml/forecasts), so the dbt source
for the forecast table *is* the Python `ml/forecasts` asset and the graph is connected end to end.
"""

import json
import sys
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import dagster as dg
from dagster_dbt import (
    DagsterDbtTranslator,
    DagsterDbtTranslatorSettings,
    DbtCliResource,
    DbtProject,
    dbt_assets,
)

from orchestration.settings import DBT_PROJECT_DIR, PROFILES_DIR, current_target, load_pipeline


class WarecastTranslator(DagsterDbtTranslator):
    def get_asset_key(self, dbt_resource_props: Mapping[str, Any]) -> dg.AssetKey:
        if dbt_resource_props["resource_type"] == "source":
            return dg.AssetKey([dbt_resource_props["source_name"], dbt_resource_props["name"]])
        schema = dbt_resource_props["config"].get("schema") or "analytics"
        return dg.AssetKey([schema, dbt_resource_props["name"]])

    def get_group_name(self, dbt_resource_props: Mapping[str, Any]) -> str | None:
        # models/marts/features/x.sql -> "marts_features": the folder is the layer.
        folders = dbt_resource_props["fqn"][1:-1]
        return "_".join(folders) or "dbt"


def dbt_vars() -> str:
    pipeline = load_pipeline()
    return json.dumps({**pipeline.dbt_vars, "forecast_schema": pipeline.forecast_schema})


def dbt_executable() -> str:
    # The venv's dbt, whatever PATH says (Dagster runs start from various environments).
    candidate = Path(sys.executable).with_name("dbt")
    return str(candidate) if candidate.exists() else "dbt"


def _manifest_is_stale(project: DbtProject) -> bool:
    if not project.manifest_path.exists():
        return True
    built = project.manifest_path.stat().st_mtime
    sources = [project.project_dir / "dbt_project.yml", PROFILES_DIR / "profiles.yml"]
    for folder in ("models", "macros", "tests"):
        sources.extend((project.project_dir / folder).rglob("*"))
    return any(path.is_file() and path.stat().st_mtime > built for path in sources)


def prepare_manifest(project: DbtProject) -> None:
    """`dbt parse` under `dagster dev`, or when any dbt file is newer than the manifest."""
    if project.preparer.using_dagster_dev() or _manifest_is_stale(project):
        resource = DbtCliResource(project_dir=project, dbt_executable=dbt_executable())
        resource.cli(["parse", "--quiet"], target_path=project.target_path).wait()


warecast_dbt_project = DbtProject(
    project_dir=DBT_PROJECT_DIR, profiles_dir=PROFILES_DIR, target=current_target()
)
prepare_manifest(warecast_dbt_project)

translator = WarecastTranslator(
    settings=DagsterDbtTranslatorSettings(
        enable_asset_checks=True, enable_source_tests_as_checks=True
    )
)


@dbt_assets(
    manifest=warecast_dbt_project.manifest_path,
    dagster_dbt_translator=translator,
    project=warecast_dbt_project,
)
def warecast_dbt_models(context: dg.AssetExecutionContext, dbt: DbtCliResource):
    """dbt build (models, unit tests, data tests) of whatever subset Dagster selected."""
    yield from dbt.cli(["build", "--vars", dbt_vars()], context=context).stream()


def dbt_resource(target: str) -> DbtCliResource:
    return DbtCliResource(
        project_dir=warecast_dbt_project, target=target, dbt_executable=dbt_executable()
    )


def relation_of(model_name: str) -> tuple[str, str]:
    """(schema, table) dbt materializes `model_name` into, from the manifest."""
    manifest = json.loads(warecast_dbt_project.manifest_path.read_text())
    for node in manifest["nodes"].values():
        if node["resource_type"] == "model" and node["name"] == model_name:
            return node["schema"], node.get("alias") or node["name"]
    raise KeyError(f"dbt model {model_name!r} is not in the manifest; run `dbt parse`.")
