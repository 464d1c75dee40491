"""All dbt models as Dagster assets, with dbt tests as asset checks.

The translator is rule based: a model's key is [<its schema>, <its name>] (marts/fct_...),
a source's key is [<source name>, <table>] (raw/observations, ml/forecasts), so the dbt source
for the forecast table *is* the Python `ml/forecasts` asset and the graph is connected end to end.
"""

import warnings
from collections.abc import Mapping
from typing import Any

import dagster as dg
from dagster_dbt import (
    DagsterDbtTranslator,
    DagsterDbtTranslatorSettings,
    DbtCliResource,
    DbtProject,
    dbt_assets,
)

from orchestration.assets.dbt_incremental import (
    builds_every_incremental_model,
    manifest_json,
    plan_build,
    record_build,
)
from orchestration.dbt_models import (
    FEATURES_MODEL,
    FINGERPRINT_MODEL,
    RAW_GROUP,
    dbt_checksum,
    dbt_executable,
    dbt_vars,
    keep_partial_parse,
    prepared_manifest,
    relation_of,
    step_target_path,
)
from orchestration.resources import WarehouseResource
from orchestration.settings import DBT_PROJECT_DIR, PROFILES_DIR, current_target


class WarecastTranslator(DagsterDbtTranslator):
    def get_asset_key(self, dbt_resource_props: Mapping[str, Any]) -> dg.AssetKey:
        if dbt_resource_props["resource_type"] == "source":
            # A source written by a Python asset names it (e.g. the lineage tables ml/forecasts
            # writes), so the graph stays connected without one asset per side table.
            declared = dbt_resource_props.get("meta", {}).get("dagster", {}).get("asset_key")
            if declared:
                return dg.AssetKey(declared)
            return dg.AssetKey([dbt_resource_props["source_name"], dbt_resource_props["name"]])
        schema = dbt_resource_props["config"].get("schema") or "analytics"
        return dg.AssetKey([schema, dbt_resource_props["name"]])

    def get_group_name(self, dbt_resource_props: Mapping[str, Any]) -> str | None:
        # models/marts/features/x.sql -> "marts_features": the folder is the layer, and the
        # folders are laid out so that no group feeds one upstream of it (the global lineage
        # reads raw -> staging_raw -> ... -> ml -> staging_ml -> marts_*). Seeds are inputs
        # people keep in git, beside the raw data.
        if dbt_resource_props["resource_type"] == "seed":
            return RAW_GROUP
        folders = dbt_resource_props["fqn"][1:-1]
        return "_".join(folders) or RAW_GROUP

    def get_asset_check_spec(self, asset_spec, manifest, unique_id, project):
        # The check's name is the dbt test's (dagster-dbt matches results by it); its
        # description says in words what holds when it passes.
        spec = super().get_asset_check_spec(asset_spec, manifest, unique_id, project)
        if spec is None or spec.description:
            return spec
        return dg.AssetCheckSpec(
            name=spec.name,
            asset=spec.asset_key,
            description=describe_dbt_test(manifest, manifest["nodes"][unique_id]),
            additional_deps=spec.additional_deps,
            metadata=spec.metadata,
            blocking=spec.blocking,
        )


def describe_dbt_test(manifest: Mapping[str, Any], test: Mapping[str, Any]) -> str:
    """What a dbt data test asserts, in a sentence: the test's own description, else one
    written from the generic test and its arguments."""
    if test.get("description"):
        return test["description"]
    generic = test.get("test_metadata") or {}
    args = generic.get("kwargs", {})
    column = f"`{args.get('column_name')}`"
    sentence = {
        "not_null": f"{column} is never null.",
        "unique": f"{column} is unique: no two rows share it.",
        "accepted_values": f"{column} is one of: {', '.join(map(str, args.get('values', [])))}.",
        "relationships": f"Every {column} is a `{args.get('field')}` of {args.get('to')}.",
        "unique_combination": f"One row per ({', '.join(args.get('columns', []))}): the grain.",
    }.get(generic.get("name", ""))
    if sentence is None:
        macro = manifest["macros"].get(f"macro.{test['package_name']}.test_{generic.get('name')}")
        sentence = (macro or {}).get("description") or f"dbt test {test['name']} finds no rows."
        columns = args.get("columns") or ([args["column_name"]] if "column_name" in args else [])
        if columns:
            sentence += f" Columns: {', '.join(columns)}."
    severity = (test.get("config", {}).get("severity") or "error").lower()
    return f"{sentence} {'Fails' if severity == 'error' else 'Warns on'} `dbt build` otherwise."


warecast_dbt_project = DbtProject(
    project_dir=DBT_PROJECT_DIR, profiles_dir=PROFILES_DIR, target=current_target()
)
translator = WarecastTranslator(
    settings=DagsterDbtTranslatorSettings(
        enable_asset_checks=True,
        enable_source_tests_as_checks=True,
        # Several side tables written by ml/forecasts are sources of the lineage marts.
        enable_duplicate_source_asset_keys=True,
    )
)


@dbt_assets(
    # The assets are defined from the manifest: `dbt parse` first if it is missing or stale.
    manifest=prepared_manifest(),
    dagster_dbt_translator=translator,
    project=warecast_dbt_project,
)
def warecast_dbt_models(
    context: dg.AssetExecutionContext, dbt: DbtCliResource, warehouse: WarehouseResource
):
    """dbt build (models, unit tests, data tests) of whatever subset Dagster selected.

    Incremental after appends, a full refresh after a replace load or changed vars or SQL
    (orchestration/assets/dbt_incremental.py decides, from small reads before dbt starts).

    The feature mart's output is held back until dbt has built its fingerprint view, then
    re-emitted with the in-warehouse fingerprint as its data version: Dagster then marks
    ml/trained_model stale when the feature data or the dbt code behind it changes.
    """
    held, waiting, fingerprinted = None, [], False
    manifest = manifest_json(warecast_dbt_project.manifest_path)
    plan = plan_build(warehouse.client(), dbt_vars(), manifest)
    context.log.info(
        "dbt build: %s (%s).", "full refresh" if plan.full_refresh else "incremental", plan.reason
    )
    target = step_target_path(context.op.name)
    try:
        args = ["build", "--vars", dbt_vars(), *plan.dbt_args]
        for event in dbt.cli(args, context=context, target_path=target).stream():
            if _is_output_of(event, FEATURES_MODEL):
                held = event
            elif held is None:
                yield event
            else:
                fingerprinted = fingerprinted or _is_output_of(event, FINGERPRINT_MODEL)
                waiting.append(event)
    except Exception:
        keep_partial_parse(target, remove=False)  # its logs and compiled SQL tell what failed
        # A later dbt node failed: still report what was built (without a data version).
        yield from [held, *waiting] if held is not None else []
        raise
    keep_partial_parse(target)
    if builds_every_incremental_model(manifest, context.selected_output_names):
        record_build(warehouse.client(), plan)  # each is built up to plan.watermark
    if held is None:
        return
    # Read once dbt has exited (DuckDB allows one process on the file), then yield in
    # topological order, as Dagster requires of a multi-asset: the features first.
    if fingerprinted:
        yield with_feature_data_version(held, warehouse)
    else:
        context.log.warning(
            "%s built without %s: no data version.", FEATURES_MODEL, FINGERPRINT_MODEL
        )
        yield held
    yield from waiting


def _is_output_of(event, model_name: str) -> bool:
    return isinstance(event, dg.Output) and event.output_name.endswith(f"__{model_name}")


def _output_with_data_version(output: dg.Output, metadata: dict, version: str) -> dg.Output:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", category=dg.BetaWarning)  # data_version is beta in 1.13
        return dg.Output(
            value=output.value,
            output_name=output.output_name,
            metadata={**output.metadata, **metadata},
            data_version=dg.DataVersion(version),
        )


def feature_data_version(warehouse: WarehouseResource):
    """The current FeatureDataVersion of the feature mart (fingerprint read whole from dbt)."""
    from orchestration.lineage import read_fingerprint

    return read_fingerprint(
        warehouse.client(),
        relation_of(FINGERPRINT_MODEL),
        ".".join(relation_of(FEATURES_MODEL)),
        dbt_checksum(FEATURES_MODEL),
    )


def with_feature_data_version(output: dg.Output, warehouse: WarehouseResource) -> dg.Output:
    version = feature_data_version(warehouse)
    metadata = {
        "feature_data_version": version.data_version,
        "content_hash": version.content_hash,
        "dbt_checksum": version.dbt_checksum,
        "dagster/row_count": version.row_count,
    }
    return _output_with_data_version(output, metadata, version.data_version)


def dbt_resource(target: str) -> DbtCliResource:
    return DbtCliResource(
        project_dir=warecast_dbt_project, target=target, dbt_executable=dbt_executable()
    )
