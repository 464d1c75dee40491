"""The "done" lines name each Dagster step for a person, from what it materialized.

A real in-process Dagster run of a dbt-like multi-asset (kinds {"dbt"}, groups as folders) that
Dagster splits into two steps because a Python asset sits between its models, as it splits
warecast's @dbt_assets; no raw step key (`dbt_models_2`, `ml__forecasts`) may reach the console.
"""

from __future__ import annotations

import re

import dagster as dg

from orchestration.cli.errors import CommandLog
from orchestration.cli.jobs import QUIET_LOGS, STAGE_WIDTH, check_result, execute

SEED = dg.AssetKey(["staging", "forecast_overrides"])
STAGING = dg.AssetKey(["staging", "stg_observations"])
FEATURES = dg.AssetKey(["marts", "fct_training_features"])
LATEST = dg.AssetKey(["marts", "fct_forecasts_latest"])
PUBLISHED = dg.AssetKey(["marts", "fct_forecasts_published"])
FORECASTS = dg.AssetKey(["ml", "forecasts"])


@dg.multi_asset(
    specs=[
        dg.AssetSpec(
            SEED,
            group_name="raw",
            kinds={"dbt"},
            metadata={"dagster-dbt/materialization_type": "seed"},
        ),
        dg.AssetSpec(STAGING, group_name="staging_raw", kinds={"dbt"}),
        dg.AssetSpec(FEATURES, group_name="marts_features", kinds={"dbt"}, deps=[STAGING]),
        dg.AssetSpec(LATEST, group_name="marts_forecasts", kinds={"dbt"}, deps=[FORECASTS]),
        dg.AssetSpec(PUBLISHED, group_name="marts_published", kinds={"dbt"}, deps=[FORECASTS]),
    ],
    # dagster-dbt runs a source's tests in every step that uses the source, though Dagster gives
    # the check to one step: the others' results are "not selected" (warned about, recorded).
    check_specs=[dg.AssetCheckSpec("not_null", asset=LATEST)],
    can_subset=True,
)
def dbt_models(context):
    for key in (SEED, STAGING, FEATURES, LATEST, PUBLISHED):  # in dependency order
        if key in context.selected_asset_keys:
            yield dg.MaterializeResult(asset_key=key)
    yield dg.AssetCheckResult(asset_key=LATEST, check_name="not_null", passed=True)


@dg.asset(key=FORECASTS, deps=[FEATURES], kinds={"python"})
def forecasts() -> dg.MaterializeResult:
    return dg.MaterializeResult()


@dg.asset_check(asset=FORECASTS, name="rows_written")
def rows_written() -> dg.AssetCheckResult:
    return dg.AssetCheckResult(passed=True)


def test_every_step_has_a_readable_name(warecast_home, capsys):
    defs = dg.Definitions(
        assets=[dbt_models, forecasts], asset_checks=[rows_written], jobs=[dg.define_asset_job("j")]
    )
    log = CommandLog.for_command("run", ["run"])
    result = execute(defs.resolve_job_def("j"), log, run_config=QUIET_LOGS)
    assert check_result("run", result, log) == 0
    steps = {e.step_key for e in result.all_events if e.event_type_value == "STEP_SUCCESS"}
    assert {"dbt_models", "dbt_models_2", "ml__forecasts"} <= steps  # Dagster split the multi-asset

    err = capsys.readouterr().err
    assert "not selected" in log.path.read_text() and "not selected" not in err  # log only
    done = [line for line in err.splitlines() if line.startswith("  done ")]
    names = [line[len("  done  ") :][:STAGE_WIDTH].rstrip() for line in done]
    # The staging view that feeds the step's mart is counted, not named beside it.
    assert "dbt: seeds, features (2 models, 1 seed)" in names, done
    assert "dbt: forecasts, published (2 models)" in names, done
    assert "ml/forecasts" in names, done
    assert "check rows_written on ml/forecasts" in names, done
    for line in done:
        assert not re.search(r"\b(dbt_models(_\d+)?|\w+__\w+)\b", line), line  # no raw step key
        assert re.fullmatch(rf"  done  .{{{STAGE_WIDTH}}} +\d+\.\d s", line), line  # aligned


FOLDERS = ["features", "lineage", "hierarchy", "published"]


def test_a_long_dbt_name_shows_the_folders_that_fit_and_counts_the_rest():
    from orchestration.cli.jobs import _StageNames

    names = _StageNames()
    groups = ["staging_ml", "intermediate", *(f"marts_{f}" for f in FOLDERS)]
    keys = [dg.AssetKey(["marts", f"model_{group}"]) for group in groups]
    names.groups = dict(zip(keys, groups, strict=True))
    names.dbt_keys, names.dbt_ops = set(keys), {"warecast_dbt_models"}
    names.built["warecast_dbt_models"] = keys
    name = names.stage_name("warecast_dbt_models")
    # Upstream first, then the marts' folders by name; staging is plumbing beside them.
    assert name == "dbt: intermediate, features, hierarchy +2 more (6 models)", name
    assert len(name) <= STAGE_WIDTH
    names.built["warecast_dbt_models"] = keys[::-1]  # whatever order dbt's threads finished in
    assert names.stage_name("warecast_dbt_models") == name
    assert names.stage_name("warecast_dbt_models_7") == "dbt: no model built"
    assert names.stage_name("ml__forecasts") == "ml/forecasts"  # nothing seen: from the key
