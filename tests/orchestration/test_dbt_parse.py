"""Every dbt step starts from the partial parse `dbt parse` leaves (dagster-dbt copies it): made
with the same vars, target and profile, each step skips parsing the whole project again."""

from __future__ import annotations

import os
import shutil
import subprocess

from orchestration.dbt_models import (
    FEATURES_MODEL,
    PROFILES_DIR,
    RAW_GROUP,
    TARGET_PATH,
    _manifest_is_stale,
    dbt_executable,
    dbt_vars,
    manifest_path,
    parse_manifest,
)
from orchestration.settings import DBT_PROJECT_DIR, current_target

REPARSE = "Unable to do partial parsing"


def _dbt_ls(target, vars_: str) -> str:
    """`dbt ls` as a dagster-dbt step runs dbt: from a copy of the partial parse."""
    target.mkdir(exist_ok=True)
    shutil.copy(TARGET_PATH / "partial_parse.msgpack", target)
    env = {
        **os.environ,
        "DBT_TARGET_PATH": str(target),
        "DBT_LOG_PATH": str(target),
        "DBT_PROFILES_DIR": str(PROFILES_DIR),
        "DBT_SEND_ANONYMOUS_USAGE_STATS": "false",
    }
    command = [dbt_executable(), "ls", "--target", current_target(), "--vars", vars_]
    done = subprocess.run(
        [*command, "--select", FEATURES_MODEL],
        cwd=DBT_PROJECT_DIR,
        env=env,
        capture_output=True,
        text=True,
        check=True,
    )
    return done.stdout


def test_a_dbt_step_with_the_runs_vars_and_profile_parses_partially(
    warecast_home, tmp_path, monkeypatch
):
    parse_manifest()
    assert not _manifest_is_stale(manifest_path())
    assert REPARSE not in _dbt_ls(tmp_path / "same", dbt_vars())
    # Other vars (another pipeline's grain) parse everything: what the parse state guards.
    assert REPARSE in _dbt_ls(tmp_path / "other", '{"grain": "hour"}')
    monkeypatch.setenv("WARECAST_PIPELINE", "server_metrics_hourly")
    assert _manifest_is_stale(manifest_path())
    monkeypatch.setenv("WARECAST_PIPELINE", "aus_retail")
    monkeypatch.setenv("WARECAST_HOME", str(tmp_path / "elsewhere"))  # another DuckDB file
    assert _manifest_is_stale(manifest_path())


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
