"""Day N: incremental dbt builds after appending loads equal a full refresh of the same raw data.

History arrives in several appends (Warehouse.append_rows, the path of `warecast load --append`):
late corrections of old periods, a brand-new series, a row before a series' start, a gap that
forward fill covers and a later fill of that gap, an impossible value, duplicates inside one load,
an outlier and one new hour for every series. After each append `dbt build` runs incrementally in
one database; a second database gets the same raw rows and `dbt build --full-refresh`. Every row of
the staging, intermediate and feature tables must match: keys, flags, lags and counts exactly,
doubles to a relative 1e-9 (sums in another order may round differently; the block-wise running
sums of fct_training_features make its doubles equal exactly, which the equal fingerprints check).
On DuckDB, PostgreSQL and Snowflake (fakesnow).
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow as pa
import pytest

from orchestration.settings import DBT_PROJECT_DIR, PROFILES_DIR
from orchestration.warehouse import Warehouse
from orchestration.warehouse.profiles import load_target

# outlier_window null = season_length: look-back 25 periods, blocks of 100 hours.
DBT_VARS = {"grain": "hour", "short_window": 6, "season_length": 24}
SELECT = ["+fct_feature_fingerprint", "dim_series"]
MODELS = {
    "stg_raw__observations": ("staging", ["series_id", "ts"]),
    "int_observations_aggregated": ("intermediate", ["series_id", "period_ts"]),
    "int_observations_regularized": ("intermediate", ["series_id", "ts"]),
    "fct_training_features": ("marts", ["series_id", "ts"]),
    "dim_series": ("marts", ["series_id"]),
    "fct_feature_block_hashes": ("marts", ["series_id", "block_id"]),
}
START = pd.Timestamp("2024-03-01")


def _rows(series: str, hours, values) -> pd.DataFrame:
    ts = [START + pd.Timedelta(hours=int(h)) for h in hours]
    return pd.DataFrame({"series_id": series, "ts": ts, "value": np.asarray(values, float)})


def _noise(seed: int, n: int, level: float) -> np.ndarray:
    # Multiples of 1/64: sums of a few of them are exact, so averages do not depend on order.
    return np.round(np.random.default_rng(seed).normal(level, 3.0, n) * 64) / 64


def loads() -> list[pd.DataFrame]:
    """The appends, in order (loaded_at is stamped by append_rows)."""
    first = [_rows(f"s{i}", range(0, 120), _noise(i, 120, 20.0 + 10 * i)) for i in range(3)]
    gappy = [h for h in range(20, 120) if not 50 <= h < 60]
    first.append(_rows("s3", gappy, _noise(3, len(gappy), 50.0)))
    second = [_rows(f"s{i}", range(120, 160), _noise(10 + i, 40, 20.0 + 10 * i)) for i in range(3)]
    second.append(_rows("s3", range(120, 160), _noise(13, 40, 50.0)))
    second.append(_rows("s4", range(100, 160), _noise(14, 60, 5.0)))  # a brand-new series
    third = [
        _rows("s0", [10], [99.5]),  # a late correction of an old period
        _rows("s1", [118], [3.25]),  # another, across a block boundary's look-back
        _rows("s3", [5], [51.0]),  # a row before the series' start
        _rows("s3", range(170, 200), _noise(23, 30, 50.0)),  # a gap 160..169 forward fill covers
        _rows("s0", [150], [0.0]).assign(
            ts=START + pd.Timedelta(minutes=150 * 60 + 30)
        ),  # off grain
    ]
    third += [_rows(f"s{i}", range(160, 200), _noise(20 + i, 40, 20.0 + 10 * i)) for i in (0, 1)]
    third += [_rows(f"s{i}", range(160, 200), _noise(30 + i, 40, 5.0 + 15 * i)) for i in (2, 4)]
    fourth = [
        _rows("s3", range(160, 170), _noise(33, 10, 50.0)),  # the gap filled later
        _rows("s3", range(50, 55), _noise(34, 5, 50.0)),  # part of the old gap, too
        _rows("s1", [130], [float("nan")]),  # an impossible value replaces a good one
        _rows("s2", [140, 140], [7.5, 8.5]),  # twice in one load: the larger value wins
    ]
    fifth = [_rows(f"s{i}", [200], [500.0 if i == 2 else 20.0]) for i in range(5)]  # Day N
    return [pd.concat(parts, ignore_index=True) for parts in (first, second, third, fourth, fifth)]


def arrow(frame: pd.DataFrame) -> pa.Table:
    out = frame.assign(loaded_at=pd.Timestamp("2000-01-01"))
    return pa.Table.from_pandas(out, preserve_index=False)


def dbt_command(tmp_path: Path, target: str, *extra: str) -> list[str]:
    dbt = Path(sys.executable).with_name("dbt")
    command = [str(dbt), "build", "--profiles-dir", str(PROFILES_DIR), "--target", target]
    command += ["--select", *SELECT, "--vars", json.dumps(DBT_VARS), *extra]
    command += ["--exclude", "resource_type:unit_test", "--indirect-selection", "cautious"]
    command += ["--target-path", str(tmp_path / "target"), "--log-path", str(tmp_path / "logs")]
    return command


def dbt_build(tmp_path: Path, target: str, env: dict, *extra: str) -> None:
    command = dbt_command(tmp_path, target, *extra)
    done = subprocess.run(
        command, cwd=DBT_PROJECT_DIR, env={**os.environ, **env}, capture_output=True, text=True
    )
    assert done.returncode == 0, done.stdout[-4000:] + done.stderr[-2000:]


class Side:
    """One database of the comparison: its profile environment and warehouse client."""

    def __init__(self, target: str, env: dict[str, str]):
        self.target, self.env = target, env
        saved = {key: os.environ.get(key) for key in env}
        os.environ.update(env)
        try:
            self.client = Warehouse.from_profile(load_target(PROFILES_DIR, target))
        finally:
            for key, value in saved.items():
                if value is None:
                    os.environ.pop(key, None)
                else:
                    os.environ[key] = value

    def table(self, model: str) -> pd.DataFrame:
        schema, key = MODELS[model]
        frame = self.client.read_table(schema, model).to_pandas()
        return frame.sort_values(key, ignore_index=True)

    def fingerprint(self) -> dict:
        return self.client.read_table("marts", "fct_feature_fingerprint").to_pylist()[0]


def _sides(target: str, request, tmp_path: Path) -> tuple[Side, Side]:
    if target == "duckdb":
        return (
            Side(target, {"WARECAST_DUCKDB_PATH": str(tmp_path / "incremental.duckdb")}),
            Side(target, {"WARECAST_DUCKDB_PATH": str(tmp_path / "full.duckdb")}),
        )
    if target == "postgres":
        request.applymarker(pytest.mark.postgres)
        name = request.getfixturevalue("pg_database")
        server = request.getfixturevalue("pg_server")
        server.create_database(f"{name}_full")
        return Side(target, {}), Side(target, {"WARECAST_PG_DATABASE": f"{name}_full"})
    name = request.getfixturevalue("fakesnow_database")
    server = request.getfixturevalue("fakesnow_server")
    return Side(target, {}), Side(target, server.env(f"{name}_FULL"))


def assert_same_rows(model: str, incremental: pd.DataFrame, full: pd.DataFrame) -> None:
    assert list(incremental.columns) == list(full.columns), model
    # built_at says which dbt invocation wrote the row: build metadata, the one column that differs
    incremental = incremental.drop(columns="built_at", errors="ignore")
    full = full.drop(columns="built_at", errors="ignore")
    assert len(incremental) == len(full), (model, len(incremental), len(full))
    for column in full.columns:
        left, right = incremental[column], full[column]
        assert (left.isna() == right.isna()).all(), (model, column)
        if pd.api.types.is_float_dtype(right):
            np.testing.assert_allclose(left, right, rtol=1e-9, atol=0, err_msg=f"{model}.{column}")
        else:
            same = (left == right) | (left.isna() & right.isna())
            assert same.all(), (model, column, incremental[~same].head(), full[~same].head())


@pytest.mark.timeout(600)
@pytest.mark.parametrize("target", ["duckdb", "postgres", "snowflake"])
def test_incremental_builds_equal_a_full_refresh(target, request, tmp_path):
    incremental, full = _sides(target, request, tmp_path)
    # After the load with the late rows, and after the last; DuckDB also after the second.
    compared = {1, 2, 4} if target == "duckdb" else {2, 4}
    fingerprints = []
    batches = loads()
    for step, batch in enumerate(batches):
        first = step == 0
        if first:
            incremental.client.replace_table("raw", "observations", arrow(batch))
        else:
            incremental.client.append_rows("raw", "observations", arrow(batch), "loaded_at")
        dbt_build(tmp_path / "inc", target, incremental.env)
        fingerprints.append(incremental.fingerprint())
        if step not in compared:
            continue
        raw = incremental.client.read_table("raw", "observations")
        full.client.replace_table("raw", "observations", raw)
        dbt_build(tmp_path / "full", target, full.env, "--full-refresh")
        for model in MODELS:
            assert_same_rows(model, incremental.table(model), full.table(model))
        assert incremental.fingerprint() == full.fingerprint(), step

    hashes = [f["content_hash"] for f in fingerprints]
    assert len(set(hashes)) == len(hashes)  # every append changed the data
    features = incremental.table("fct_training_features").set_index(["series_id", "ts"])
    assert features.loc[("s2", START + pd.Timedelta(hours=200)), "is_outlier"]
    assert features.loc[("s3", START + pd.Timedelta(hours=5)), "is_filled"] == False  # noqa: E712
    assert features.loc[("s3", START + pd.Timedelta(hours=6)), "is_filled"]

    # Reloading equal values moves the watermark but not the feature data version.
    again = batches[-1].iloc[:2]
    incremental.client.append_rows("raw", "observations", arrow(again), "loaded_at")
    dbt_build(tmp_path / "inc", target, incremental.env)
    assert incremental.fingerprint() == fingerprints[-1]
    newest = incremental.table("fct_training_features")["loaded_at"].max()
    assert newest == _newest_raw(incremental)

    # A late correction rewrites the grid from the observed hour before it to the one after it,
    # and the feature blocks those rows are in or are the look-back of; not the series' end.
    late = _rows("s2", [30], [123.0])
    incremental.client.append_rows("raw", "observations", arrow(late), "loaded_at")
    dbt_build(tmp_path / "inc", target, incremental.env)
    assert _written(incremental, "int_observations_regularized") == [
        ("s2", h) for h in (29, 30, 31)
    ]
    hours = [h for _, h in _written(incremental, "fct_training_features")]
    blocks = {_block(h) for h in (29, 30, 31)} | {_block(h + LOOKBACK) for h in (29, 30, 31)}
    assert hours == [h for h in range(0, 201) if _block(h) in blocks]
    assert {s for s, _ in _written(incremental, "fct_training_features")} == {"s2"}


LOOKBACK, BLOCK = 25, 100  # feature_lookback() and feature_block() for DBT_VARS


def _block(hour: int) -> int:
    """The feature block of an hour after START (blocks count hours from 1900-01-01)."""
    return (
        int((START + pd.Timedelta(hours=hour) - pd.Timestamp("1900-01-01")) / pd.Timedelta(hours=1))
        // BLOCK
    )


def _written(side: Side, model: str) -> list[tuple[str, int]]:
    """(series_id, hours after START) of the rows the newest dbt invocation wrote."""
    frame = side.table(model)
    frame = frame[frame["built_at"] == frame["built_at"].max()]
    hours = (frame["ts"] - START) / pd.Timedelta(hours=1)
    return sorted(zip(frame["series_id"], hours.astype(int), strict=True))


def _newest_raw(side: Side):
    return side.client.read_table("raw", "observations").column("loaded_at").to_pandas().max()


def _dbt(tmp_path: Path, side: Side, command: str) -> subprocess.CompletedProcess:
    args = dbt_command(tmp_path, side.target)
    args[1] = command
    return subprocess.run(
        args, cwd=DBT_PROJECT_DIR, env={**os.environ, **side.env}, capture_output=True, text=True
    )


def _plant(side: Side, table: str, columns: str, where: str) -> None:
    """Insert copies of the rows `where` selects (a duplicate key), columns as given."""
    with side.client.session() as session:
        session.execute(f"insert into {table} select {columns} from {table} where {where}")
        session.commit()


@pytest.mark.timeout(600)
@pytest.mark.parametrize("target", ["duckdb", "postgres"])
def test_build_tests_the_rows_it_wrote(target, request, tmp_path):
    """Under `dbt build` the incremental models' key tests check the rows that build wrote
    (built_at): an incremental run that writes a duplicate key fails; an old duplicate it leaves
    alone does not fail it, and `dbt test` (every row) finds that one."""
    side = _sides(target, request, tmp_path)[0]
    first, second = (arrow(batch) for batch in loads()[:2])
    side.client.replace_table("raw", "observations", first)
    dbt_build(tmp_path, target, side.env)
    hour = "cast('{}' as timestamp)".format
    # s0's first hour: the next append rebuilds s0 from hour 119's block, never this row.
    _plant(side, "marts.fct_training_features", "*", f"series_id = 's0' and ts = {hour(START)}")
    side.client.append_rows("raw", "observations", second, "loaded_at")
    dbt_build(tmp_path, target, side.env)  # passes: the old duplicate is not among its rows
    tested = _dbt(tmp_path, side, "test")
    assert tested.returncode != 0
    assert "Failure in test unique_combination_fct_training_features" in tested.stdout

    # Two aggregated rows of one period, loaded later: the regularized rows the next incremental
    # run writes for s1 hold that period twice.
    late = f"{hour(START + pd.Timedelta(hours=100))}"
    columns = "series_id, period_ts, value + 1, n_observations, {}, built_at".format(
        hour("2100-01-01")
    )
    where = f"series_id = 's1' and period_ts = {late}"
    _plant(side, "intermediate.int_observations_aggregated", columns, where)
    built = _dbt(tmp_path, side, "build")
    assert built.returncode != 0
    assert "Failure in test unique_combination_int_observations_regularized" in built.stdout


@pytest.mark.parametrize("target", ["duckdb", "postgres", "snowflake"])
def test_build_plan_is_incremental_only_after_appends(target, request, tmp_path):
    """orchestration decides --full-refresh from the load log, the raw table and the vars."""
    from orchestration.assets.dbt_incremental import plan_build, record_build
    from orchestration.warehouse.loads import LoadRecord, utc_now

    client = _sides(target, request, tmp_path)[0].client
    manifest, dbt_vars = {"nodes": {}}, json.dumps(DBT_VARS)
    first, second, third = (arrow(batch) for batch in loads()[:3])

    def plan(vars_json: str = dbt_vars):
        built = plan_build(client, vars_json, manifest)
        record_build(client, built)
        return built.full_refresh, built.reason

    log = ("observation_loads", LoadRecord.of("replace", utc_now(), first))
    client.replace_table("raw", "observations", first, log=log)
    assert plan() == (True, "no earlier build is recorded")
    appended = client.append_rows("raw", "observations", second, "loaded_at", "observation_loads")
    assert appended.row_count == second.num_rows and appended.mode == "append"
    assert plan()[0] is False
    assert plan()[0] is False  # nothing new: still incremental (a no-op build)
    assert plan(json.dumps({**DBT_VARS, "short_window": 3}))[1].startswith("the dbt vars")
    assert plan()[1].startswith("the dbt vars")  # and back
    client.replace_table("raw", "observations", third)  # rewritten outside warecast's loads
    assert "rewritten, not appended to" in plan()[1]
    log = ("observation_loads", LoadRecord.of("replace", utc_now(), first))
    client.replace_table("raw", "observations", first, log=log)
    assert plan() == (True, "raw.observations was replaced since the last build")
    assert plan()[0] is False
    stamps = client.read_table("raw", "observation_loads").column("loaded_at").to_pylist()
    assert len(stamps) == 3
    raw = client.read_table("raw", "observations").to_pandas()
    assert raw["loaded_at"].nunique() == 1


@pytest.mark.timeout(600)
def test_dagster_refresh_is_incremental_after_an_append(warecast_home, monkeypatch, tmp_path):
    """The raw asset with mode=append, then the dbt assets: recorded as an incremental build."""
    import dagster as dg
    import pyarrow.parquet as pq

    from orchestration.definitions import build_definitions

    monkeypatch.setenv("WARECAST_PIPELINE", "server_metrics_hourly")  # hourly dbt vars
    defs = build_definitions("duckdb")
    wanted = [
        dg.AssetKey(["marts", "fct_feature_fingerprint"]),
        dg.AssetKey(["marts", "dim_series"]),
    ]
    selection = dg.AssetSelection.keys(*wanted).upstream().resolve(defs.resolve_asset_graph())
    job = defs.resolve_job_def("forecast_pipeline")
    client = Warehouse.from_profile(load_target(PROFILES_DIR, "duckdb"))
    for step, (batch, mode) in enumerate(zip(loads()[:2], ("replace", "append"), strict=True)):
        path = tmp_path / f"load_{step}.parquet"
        pq.write_table(pa.Table.from_pandas(batch, preserve_index=False), path)
        raw = {"dataset": "file", "path": str(path), "mode": mode}
        result = job.execute_in_process(
            run_config={"ops": {"raw__observations": {"config": raw}}},
            instance=dg.DagsterInstance.ephemeral(),
            asset_selection=sorted(selection, key=str),
            raise_on_error=False,
        )
        assert result.success
    builds = client.read_table("ml", "observation_builds").to_pandas().sort_values("built_at")
    assert list(builds["mode"]) == ["full_refresh", "incremental"]
    loads_log = client.read_table("raw", "observation_loads").to_pandas().sort_values("loaded_at")
    assert list(loads_log["mode"]) == ["replace", "append"]
    dims = client.read_table("marts", "dim_series").to_pandas().set_index("series_id")
    assert dims.loc["s4", "n_periods"] == 60  # the series the append brought
