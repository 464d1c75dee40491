"""Two trainings at once never register two champions from the same feature data version.

Two real processes (tests/reliability/champion_race.py) materialize ml/trained_model against
one warehouse and one MLflow store. The test holds the warehouse's lock `champion:<model>`
while both start, so both are certainly inside the asset, waiting, when it lets go; then they
take turns: the first trains and registers, the second finds that champion trained on the same
data with the same family and config and reuses it. Without the lock both would see no champion
and both would register one (tried: two versions; see docs/reliability.md).
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from pathlib import Path

import dagster as dg
import pytest

from orchestration.settings import REPO_ROOT
from tests.reliability.catalogue import RawBuilder
from tests.reliability.harness import MODEL_NAME, failure_messages, use_reliability_pipeline

pytestmark = [pytest.mark.timeout(300)]

TRAINED = dg.AssetKey(["ml", "trained_model"])
LOCK = f"champion:{MODEL_NAME}"
WAITING = f"Waiting for lock '{LOCK}'"
RACERS = ("first", "second")


def _prepare(defs) -> None:
    """Two tiny series through dbt and a seasonal-naive backtest: what training reads."""
    raw = RawBuilder()
    for i in range(2):
        raw.series(f"race_{i}", level=30.0 + i)
    defs.resources["warehouse"].client().replace_table("raw", "observations", raw.table())
    # Without the asset checks: the backtest's dbt source tests would be one more dbt build.
    upstream = dg.AssetSelection.keys(TRAINED).upstream().without_checks()
    job = dg.define_asset_job("prepare_race", upstream - dg.AssetSelection.keys(TRAINED))
    ops = {
        "raw__observations": {"config": {"dataset": "current"}},
        "ml__backtests": {"config": {"models": ["seasonal_naive:tiny"], "cutoffs": 1}},
    }
    prepare = dg.Definitions.merge(defs, dg.Definitions(jobs=[job]))
    result = prepare.resolve_job_def("prepare_race").execute_in_process(
        run_config={"ops": ops},
        instance=dg.DagsterInstance.ephemeral(),
        raise_on_error=False,
    )
    assert result.success, failure_messages(result)


def _start(target: str, folder: Path, name: str) -> subprocess.Popen:
    log = open(folder / f"{name}.log", "w")  # noqa: SIM115 - closed with the process
    return subprocess.Popen(
        [sys.executable, "-m", "tests.reliability.champion_race", target, str(folder), name],
        cwd=REPO_ROOT,
        env=os.environ.copy(),
        stdout=log,
        stderr=subprocess.STDOUT,
    )


def _wait_for(condition, seconds: float) -> bool:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if condition():
            return True
        time.sleep(0.05)
    return False


def _race(client, target: str, folder: Path) -> tuple[dict[str, dict], dict[str, str]]:
    """Both racers inside the asset, waiting on the lock the test holds; then let them go.

    ({racer: {success, metadata}}, {racer: its log})."""
    racers = {name: _start(target, folder, name) for name in RACERS}
    logs = {name: folder / f"{name}.log" for name in RACERS}
    done = lambda: all(p.poll() is not None for p in racers.values())  # noqa: E731
    try:
        ready = lambda: all((folder / f"{n}.ready").exists() for n in RACERS)  # noqa: E731
        _wait_for(lambda: ready() or any(p.poll() is not None for p in racers.values()), 120)
        assert ready(), "\n".join(log.read_text()[-2000:] for log in logs.values())
        with client.exclusive(LOCK):
            (folder / "go").touch()
            # With the lock in place both wait here; without it they race on to the end.
            waiting = lambda: all(WAITING in log.read_text() for log in logs.values())  # noqa: E731
            _wait_for(lambda: waiting() or done(), 60)
        _wait_for(done, 180)
    finally:
        for process in racers.values():
            process.kill()
    outputs = {name: log.read_text() for name, log in logs.items()}
    results = {}
    for name in RACERS:
        assert (folder / f"{name}.json").exists(), outputs[name][-3000:]
        results[name] = json.loads((folder / f"{name}.json").read_text())
    return results, outputs


def _registered_versions() -> list[str]:
    import mlflow
    from mlflow import MlflowClient

    from orchestration.settings import mlflow_tracking_uri

    mlflow.set_tracking_uri(mlflow_tracking_uri())
    found = MlflowClient().search_model_versions(f"name='{MODEL_NAME}'")
    return sorted(str(v.version) for v in found)


def _champion_for(defs, **config) -> str | None:
    """The champion version the trained-model asset would reuse under `config`, or None."""
    from orchestration.assets.dbt import feature_data_version
    from orchestration.assets.ml import TrainConfig, build_forecaster, training_identity
    from orchestration.selection import read_champion_choice
    from orchestration.settings import load_pipeline

    pipeline = load_pipeline()
    warehouse = defs.resources["warehouse"]
    choice = read_champion_choice(warehouse, pipeline)
    _, _, params = build_forecaster(pipeline, TrainConfig(progress_bar=False, **config), choice)
    data = feature_data_version(warehouse)
    identity = training_identity(pipeline.name, data.data_version, choice.model, params)
    found = defs.resources["mlflow_tracking"].champion_trained_like(MODEL_NAME, identity)
    return None if found is None else found[0].version


@pytest.mark.parametrize("target", ["duckdb", pytest.param("postgres", marks=pytest.mark.postgres)])
def test_two_trainings_at_once_register_one_champion(
    target, request, warecast_home, monkeypatch, tmp_path
):
    if target == "postgres":
        request.getfixturevalue("pg_database")
    use_reliability_pipeline(monkeypatch)
    from orchestration.definitions import build_definitions

    defs = build_definitions(target)
    client = defs.resources["warehouse"].client()
    _prepare(defs)

    results, outputs = _race(client, target, tmp_path)
    assert all(r["success"] for r in results.values()), outputs
    assert _registered_versions() == ["1"]  # one champion for the one data version
    metadata = [r["metadata"] for r in results.values()]
    assert sorted(m["reused_champion"] for m in metadata) == [False, True]
    assert {m["model_version"] for m in metadata} == {"1"}
    assert {m["feature_data_version"] for m in metadata} == {metadata[0]["feature_data_version"]}
    for name, output in outputs.items():  # both were inside the asset at once, waiting
        assert WAITING in output, f"{name} never waited for the lock:\n{output[-3000:]}"
    history = client.read_table("ml", "model_version_history").to_pandas()
    assert list(history.sort_values("event_at")["event"]) == ["registered", "promoted"]

    # The same data and config would reuse it; another preset or max_epochs would train anew.
    assert _champion_for(defs) == "1"
    assert _champion_for(defs, model_preset="small") is None
    assert _champion_for(defs, max_epochs=3) == "1"  # seasonal naive has no epochs
