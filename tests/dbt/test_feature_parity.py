"""fct_training_features is the same table on DuckDB, PostgreSQL and Snowflake (fakesnow),
and matches the pandas definition, on data built to stress the running-sum SQL: a series far
from zero (sums of squares cancel), an all-equal run (std must be exactly 0), gaps that are
forward-filled, and series shorter than the windows.
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

from benchmarks.pandas_features import FEATURE_COLUMNS, add_features, max_relative_difference
from orchestration.settings import DBT_PROJECT_DIR, PROFILES_DIR
from orchestration.warehouse import Warehouse
from orchestration.warehouse.profiles import load_target

SHORT, SEASON = 6, 24
DBT_VARS = {"grain": "hour", "short_window": SHORT, "season_length": SEASON}
TARGETS = {"duckdb": None, "postgres": "pg_database", "snowflake": "fakesnow_database"}


def _raw() -> pd.DataFrame:
    rng = np.random.default_rng(7)
    hours = pd.date_range("2024-03-01", periods=400, freq="h")
    far = 1e6 + np.sin(np.arange(400) / 5) + rng.normal(0, 0.01, 400)  # tiny spread, huge level
    flat = rng.normal(50, 5, 400)
    flat[100:160] = 42.0  # 60 equal values: std exactly 0 inside
    gappy = rng.normal(10, 2, 400)
    parts = [
        pd.DataFrame({"series_id": "far", "ts": hours, "value": far}),
        pd.DataFrame({"series_id": "flat", "ts": hours, "value": flat}),
        pd.DataFrame({"series_id": "gappy", "ts": hours, "value": gappy}).drop(range(200, 230)),
        pd.DataFrame({"series_id": "short", "ts": hours[:10], "value": np.arange(10.0)}),
    ]
    frame = pd.concat(parts, ignore_index=True)
    frame["loaded_at"] = pd.Timestamp("2025-01-01")
    return frame


def _build(target: str, tmp_path: Path) -> pd.DataFrame:
    client = Warehouse.from_profile(load_target(PROFILES_DIR, target))
    client.replace_table("raw", "observations", pa.Table.from_pandas(_raw(), preserve_index=False))
    dbt = Path(sys.executable).with_name("dbt")
    command = [str(dbt), "build", "--profiles-dir", str(PROFILES_DIR), "--target", target]
    command += ["--select", "+fct_training_features", "--vars", json.dumps(DBT_VARS)]
    command += ["--target-path", str(tmp_path / "target"), "--log-path", str(tmp_path / "logs")]
    done = subprocess.run(
        command, cwd=DBT_PROJECT_DIR, env=dict(os.environ), capture_output=True, text=True
    )
    assert done.returncode == 0, done.stdout[-4000:] + done.stderr[-2000:]
    features = client.read_table("marts", "fct_training_features").to_pandas()
    return features.sort_values(["series_id", "ts"], ignore_index=True)


@pytest.fixture(scope="module")
def duckdb_features(tmp_path_factory, request) -> pd.DataFrame:
    home = tmp_path_factory.mktemp("parity_home")
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("WARECAST_HOME", str(home))
        patch.delenv("WARECAST_DUCKDB_PATH", raising=False)
        return _build("duckdb", tmp_path_factory.mktemp("parity_duckdb"))


def _exact_rolling_std(values: np.ndarray, window: int) -> np.ndarray:
    """Two-pass sample std of every full trailing window, in extended precision."""
    out = np.full(len(values), np.nan)
    if len(values) >= window:
        windows = np.lib.stride_tricks.sliding_window_view(values.astype(np.longdouble), window)
        centered = windows - windows.mean(axis=1, keepdims=True)
        out[window - 1 :] = np.sqrt((centered**2).sum(axis=1) / (window - 1)).astype(float)
    return out


def test_duckdb_features_match_an_exact_reference(duckdb_features):
    regular = duckdb_features[["series_id", "ts", "value"]]
    expected = add_features(regular, SHORT, SEASON)  # lags, means, calendar
    for name, window in (("short", SHORT), ("season", SEASON)):
        column = f"rolling_std_{name}"
        by_series = expected.groupby("series_id", sort=False)["value"]
        expected[column] = by_series.transform(
            lambda v, w=window: _exact_rolling_std(v.to_numpy(), w)
        )
    for column in FEATURE_COLUMNS:
        np.testing.assert_allclose(
            duckdb_features[column], expected[column], rtol=1e-9, atol=1e-9, err_msg=column
        )
    for column in ("cal_year", "cal_month", "cal_day_of_week", "cal_hour"):
        assert (duckdb_features[column].to_numpy() == expected[column].to_numpy()).all()
    flat = duckdb_features[duckdb_features.series_id == "flat"].set_index("ts")
    inside = flat.loc["2024-03-06 03:00":"2024-03-07 15:00"]  # 24-h windows inside the run
    assert (inside["rolling_std_season"] == 0).all() and (inside["rolling_std_short"] == 0).all()
    assert inside["rolling_mean_season"].sub(42.0).abs().max() < 1e-9
    short = duckdb_features[duckdb_features.series_id == "short"]
    assert short["rolling_mean_season"].isna().all()  # never a partial window


@pytest.mark.parametrize("target", ["postgres", "snowflake"])
def test_other_adapters_build_the_same_rows(target, duckdb_features, request, tmp_path):
    request.getfixturevalue(TARGETS[target])
    if target == "postgres":
        request.applymarker(pytest.mark.postgres)
    other = _build(target, tmp_path)
    assert list(other.columns) == list(duckdb_features.columns)
    assert len(other) == len(duckdb_features)
    exact = ["series_id", "ts", "is_filled", "is_outlier", "cal_year", "cal_quarter", "cal_month"]
    exact += ["cal_day_of_week", "cal_hour"]
    for column in exact:
        assert (other[column].to_numpy() == duckdb_features[column].to_numpy()).all(), column
    # Sums run in each engine's own order: equal to ~1e-12 here, nulls in the same rows.
    assert max_relative_difference(other, duckdb_features) < 1e-10
    for column in ("value", *FEATURE_COLUMNS):
        assert (other[column].isna() == duckdb_features[column].isna()).all(), column
