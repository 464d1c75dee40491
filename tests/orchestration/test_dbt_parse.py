"""Every dbt step starts from the partial parse the previous one left for the same vars,
target and profile (kept in WARECAST_HOME), so it skips parsing the whole project again."""

from __future__ import annotations

import json

from orchestration.dbt_models import (
    FEATURES_MODEL,
    RAW_GROUP,
    dbt_vars,
    keep_partial_parse,
    parse_state,
    step_target_path,
)
from tests.reliability.harness import run_dbt

REPARSE = "Unable to do partial parsing"


def _dbt_ls(tmp_path, target, vars_: dict) -> str:
    """`dbt ls` in a target folder, as a dagster-dbt step runs dbt."""
    done = run_dbt(tmp_path, "ls", "--select", FEATURES_MODEL, dbt_vars=vars_, target_path=target)
    assert done.returncode == 0, done.stdout[-2000:]
    return done.stdout


def test_a_step_seeded_with_what_the_last_one_left_parses_partially_with_the_same_vars(
    warecast_home, tmp_path
):
    run_vars = json.loads(dbt_vars())
    first = step_target_path("first")
    assert REPARSE in _dbt_ls(tmp_path, first, run_vars)  # nothing saved yet for this home
    keep_partial_parse(first)
    assert not first.exists()
    assert REPARSE not in _dbt_ls(tmp_path, step_target_path("second"), run_vars)
    # Other vars (another pipeline's grain) parse everything: what the parse state guards.
    assert REPARSE in _dbt_ls(tmp_path, step_target_path("other"), {"grain": "hour"})


def test_the_parse_state_follows_the_pipeline_and_the_warehouse(warecast_home, monkeypatch):
    state = parse_state()
    assert parse_state() == state
    monkeypatch.setenv("WARECAST_PIPELINE", "server_metrics_hourly")  # other dbt vars
    assert parse_state() != state
    monkeypatch.setenv("WARECAST_PIPELINE", "aus_retail")
    assert parse_state() == state
    monkeypatch.setenv("WARECAST_HOME", str(warecast_home / "elsewhere"))  # another DuckDB file
    assert parse_state() != state


def test_each_dbt_step_starts_from_the_partial_parse_the_last_one_left(
    warecast_home, tmp_path, monkeypatch, capfd
):
    """The dbt seed materialized twice through Dagster: the first step parses the whole project
    (dagster-dbt finds no partial parse to copy where DBT_TARGET_PATH points), the second starts
    from what the first left."""
    import dagster as dg

    monkeypatch.setenv("DBT_TARGET_PATH", str(tmp_path / "no_partial_parse"))

    from orchestration.definitions import build_definitions

    defs = build_definitions("duckdb")
    graph = defs.resolve_asset_graph()
    seeds = dg.AssetSelection.groups(RAW_GROUP) - dg.AssetSelection.assets(["raw", "observations"])
    job = defs.resolve_job_def("forecast_pipeline")
    outputs = []
    for _ in range(2):
        result = job.execute_in_process(
            instance=dg.DagsterInstance.ephemeral(), asset_selection=sorted(seeds.resolve(graph))
        )
        assert result.success
        outputs.append(capfd.readouterr().out)
    assert REPARSE in outputs[0] and REPARSE not in outputs[1]
    assert len(list((warecast_home / "dbt_partial_parse").glob("*.msgpack"))) == 1
