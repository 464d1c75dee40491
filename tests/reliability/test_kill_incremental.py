"""SIGKILL an appending load inside its transaction, and an incremental dbt build mid-chain.

Afterwards raw.observations, the load log and the feature tables hold exactly what they held
before, and the next incremental build converges to a full refresh of the same raw rows (every
row of staging, intermediate and the feature mart; the same fingerprint). DuckDB and PostgreSQL.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys

import pytest

from orchestration.settings import DBT_PROJECT_DIR, PROFILES_DIR, REPO_ROOT
from orchestration.warehouse import Warehouse
from orchestration.warehouse.profiles import load_target
from tests.dbt.test_incremental import (
    MODELS,
    arrow,
    assert_same_rows,
    dbt_build,
    dbt_command,
    loads,
)

pytestmark = [pytest.mark.timeout(600)]
FEATURE_MODELS = ("fct_training_features", "dim_series", "fct_feature_block_hashes")
RAW_TABLES = {
    "observations": ("raw", ["series_id", "ts", "loaded_at"]),
    "observation_loads": ("raw", ["loaded_at"]),
}


def _snapshot(client, models) -> dict:
    tables = {}
    for model in models:
        schema, key = {**MODELS, **RAW_TABLES}[model]
        frame = client.read_table(schema, model).to_pandas()
        tables[model] = frame.sort_values(key, ignore_index=True)
    return tables


def _kill_append(target: str) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-m", "tests.reliability.kill_append", target],
        cwd=REPO_ROOT,
        env=os.environ.copy(),
        capture_output=True,
        text=True,
        timeout=300,
    )


def _kill_dbt_when_starting(model: str, tmp_path) -> list[str]:
    """Run an incremental `dbt build`; SIGKILL its process group as `model` starts."""
    process = subprocess.Popen(
        dbt_command(tmp_path, os.environ["KILL_TARGET"]),
        cwd=DBT_PROJECT_DIR,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        start_new_session=True,
    )
    lines = []
    for line in process.stdout:
        lines.append(line)
        if "START sql incremental model" in line and f".{model} " in line:
            os.killpg(process.pid, signal.SIGKILL)
            break
    process.wait(timeout=60)
    assert process.returncode == -signal.SIGKILL, "".join(lines[-30:])
    return lines


@pytest.mark.parametrize("target", ["duckdb", pytest.param("postgres", marks=pytest.mark.postgres)])
def test_killed_append_and_build_leave_tables_and_converge(
    target, warecast_home, request, tmp_path, monkeypatch
):
    if target == "postgres":
        request.getfixturevalue("pg_database")
    monkeypatch.setenv("KILL_TARGET", target)
    monkeypatch.delenv("WARECAST_DUCKDB_PATH", raising=False)
    client = Warehouse.from_profile(load_target(PROFILES_DIR, target))
    batches = loads()
    client.replace_table("raw", "observations", arrow(batches[0]))
    dbt_build(tmp_path, target, {})
    client.append_rows("raw", "observations", arrow(batches[1]), "loaded_at", "observation_loads")
    dbt_build(tmp_path, target, {})
    before = _snapshot(client, [*RAW_TABLES, *FEATURE_MODELS])

    killed = _kill_append(target)
    assert killed.returncode == -signal.SIGKILL, killed.stderr[-3000:]
    assert "FAULT append" in killed.stdout
    after = _snapshot(client, RAW_TABLES)
    for name in RAW_TABLES:
        assert after[name].equals(before[name]), name
    assert client.leftover_stage_tables() == []

    client.append_rows("raw", "observations", arrow(batches[2]), "loaded_at", "observation_loads")
    _kill_dbt_when_starting("fct_training_features", tmp_path)
    # (dim_series, a sibling built from the intermediate tables, may commit first: fine.)
    after = _snapshot(client, FEATURE_MODELS)
    for model in ("fct_training_features", "fct_feature_block_hashes"):
        assert after[model].equals(before[model]), model

    client.append_rows("raw", "observations", arrow(batches[3]), "loaded_at", "observation_loads")
    dbt_build(tmp_path, target, {})
    incremental = _snapshot(client, MODELS)
    fingerprint = client.read_table("marts", "fct_feature_fingerprint").to_pylist()
    dbt_build(tmp_path, target, {}, "--full-refresh")
    full = _snapshot(client, MODELS)
    for model in MODELS:
        assert_same_rows(model, incremental[model], full[model])
    assert client.read_table("marts", "fct_feature_fingerprint").to_pylist() == fingerprint


@pytest.mark.postgres
def test_two_incremental_builds_at_once_take_turns(pg_database, warecast_home, tmp_path):
    """Two incremental builds started together both succeed and converge to a full refresh.

    Each incremental model takes an advisory lock before reading its watermark, so the second
    build sees what the first committed. On data this small the two models' transactions rarely
    overlap, so this passes without the lock too: it guards against deadlocks and duplicates,
    it does not prove the lock necessary.
    """
    client = Warehouse.from_profile(load_target(PROFILES_DIR, "postgres"))
    batches = loads()
    client.replace_table("raw", "observations", arrow(batches[0]))
    dbt_build(tmp_path, "postgres", {})
    for batch in batches[1:3]:
        client.append_rows("raw", "observations", arrow(batch), "loaded_at", "observation_loads")
    builds = [
        subprocess.Popen(
            dbt_command(tmp_path / f"build_{i}", "postgres"),
            cwd=DBT_PROJECT_DIR,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
        )
        for i in range(2)
    ]
    outputs = [build.communicate(timeout=300)[0] for build in builds]
    for build, output in zip(builds, outputs, strict=True):
        assert build.returncode == 0, output[-3000:]  # its unique-key tests included
    incremental = _snapshot(client, MODELS)
    dbt_build(tmp_path, "postgres", {}, "--full-refresh")
    full = _snapshot(client, MODELS)
    for model in MODELS:
        assert_same_rows(model, incremental[model], full[model])
