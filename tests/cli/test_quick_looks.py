"""`warecast leaderboard`, `forecasts --series`, `status` through the real CLI, on DuckDB and
PostgreSQL. The marts are written in the exact shape their dbt contracts declare."""

from __future__ import annotations

import datetime as dt
import os
from pathlib import Path

import pandas as pd
import pyarrow as pa
import pytest

from orchestration.lineage import FeatureDataVersion
from tests.cli.helpers import client, mart_table, stderr_lines, warecast

MODEL = "warecast_forecaster"
START = dt.datetime(2020, 1, 1)
WRITTEN = dt.datetime(2024, 3, 1, 12, 30)
MONTHS = 24


def _months(n: int, start: dt.datetime = START) -> list[dt.datetime]:
    return [ts.to_pydatetime() for ts in pd.date_range(start, periods=n, freq="MS")]


def _features() -> pa.Table:
    rows = [
        {"series_id": s, "ts": ts, "value": 10.0 * k + i, "is_filled": i == MONTHS - 2}
        for k, s in enumerate(["a", "b"], start=1)
        for i, ts in enumerate(_months(MONTHS))
    ]
    return mart_table("fct_training_features", rows)


def _fingerprint() -> dict:
    return {
        "feature_model": "fct_training_features",
        "row_count": 2 * MONTHS,
        "series_count": 2,
        "min_ts": START,
        "max_ts": _months(MONTHS)[-1],
        "content_hash": "12345",
    }


def current_data_version() -> str:
    """As the feature asset computes it (orchestration/assets/dbt.py), not as `status` does."""
    from orchestration.dbt_models import dbt_checksum, relation_of

    row = _fingerprint()
    return FeatureDataVersion(
        feature_table=".".join(relation_of("fct_training_features")),
        row_count=row["row_count"],
        series_count=row["series_count"],
        min_ts=row["min_ts"],
        max_ts=row["max_ts"],
        content_hash=row["content_hash"],
        dbt_checksum=dbt_checksum("fct_training_features"),
    ).data_version


def _versions(trained_on: str) -> pa.Table:
    base = {"model_name": MODEL, "backtest_metric_name": "mase", "trained_at": WRITTEN}
    return mart_table(
        "dim_model_versions",
        [
            {**base, "model_version": "1", "is_champion": False, "feature_data_version": "old"},
            {
                **base,
                "model_version": "2",
                "is_champion": True,
                "champion_since": WRITTEN,
                "backtest_metric": 0.8125,
                "feature_data_version": trained_on,
            },
        ],
    )


def _latest(data_version: str) -> pa.Table:
    origin = _months(MONTHS)[-1]
    rows = [
        {
            "series_id": s,
            "forecast_origin": origin,
            "target_ts": _months(step + 1, origin)[-1],
            "horizon_step": step,
            "p10": 100.0 * k + step - 1,
            "p50": 100.0 * k + step,
            "p90": 100.0 * k + step + 1.5,
            "method": "auto_ets",
            "model_name": MODEL,
            "model_version": "2",
            "created_at": WRITTEN,
            "feature_data_version": data_version,
        }
        for k, s in enumerate(["a", "b"], start=1)
        for step in (1, 2, 3)
    ]
    return mart_table("fct_forecasts_latest", rows)


def _leaderboard() -> pa.Table:
    common = {"backtest_run_id": "bt-7", "selection_metric": "mase", "n_cutoffs": 2}
    common |= {"n_series": 2, "created_at": WRITTEN}
    rows = [
        {**common, "pipeline": "aus_retail", "model_rank": 2, "model": "seasonal_naive"}
        | {"preset": "small", "is_champion": False, "mase": 1.25, "mase_vs_seasonal_naive": 1.0},
        {**common, "pipeline": "aus_retail", "model_rank": 1, "model": "auto_ets"}
        | {"preset": "small", "is_champion": True, "mase": 0.8125, "reason": "lowest mase"},
        {**common, "pipeline": "other_use_case", "model_rank": 1, "model": "mstl"}
        | {"preset": "small", "is_champion": True, "mase": 0.5},
    ]
    return mart_table("fct_model_leaderboard", rows)


def _raw(loaded_at: dt.datetime) -> pa.Table:
    rows = [
        {"series_id": s, "ts": ts, "value": 1.0, "loaded_at": loaded_at}
        for s in ("a", "b")
        for ts in _months(MONTHS)
    ]
    return pa.Table.from_pylist(rows)


@pytest.fixture(params=["duckdb", pytest.param("postgres", marks=pytest.mark.postgres)])
def target(request, warecast_home) -> str:
    if request.param == "postgres":
        request.getfixturevalue("pg_database")
    return request.param


def publish(target: str, loaded_at: dt.datetime, trained_on: str, forecast_from: str) -> None:
    warehouse = client(target)
    warehouse.replace_table("raw", "observations", _raw(loaded_at))
    warehouse.replace_table("marts", "fct_training_features", _features())
    warehouse.replace_table(
        "marts", "dim_series", mart_table("dim_series", [{"series_id": "a"}, {"series_id": "b"}])
    )
    warehouse.replace_table(
        "marts", "fct_feature_fingerprint", mart_table("fct_feature_fingerprint", [_fingerprint()])
    )
    warehouse.replace_table("marts", "dim_model_versions", _versions(trained_on))
    warehouse.replace_table("marts", "fct_forecasts_latest", _latest(forecast_from))
    warehouse.replace_table("marts", "fct_model_leaderboard", _leaderboard())


def _ok(*args: str) -> str:
    result = warecast(*args)
    assert result.returncode == 0, result.stderr[-3000:]
    assert stderr_lines(result) == [], result.stderr
    assert not (Path(os.environ["WARECAST_HOME"]) / "logs").exists()  # no log of a quiet look
    return result.stdout


def test_leaderboard_ranks_the_newest_backtest_of_the_pipeline(target):
    current = current_data_version()
    publish(target, dt.datetime(2024, 2, 1), current, current)
    out = _ok("leaderboard", "--target", target)
    assert "backtest bt-7 of 2024-03-01 12:30:00, 2 cutoff(s), 2 series, ranked by mase" in out
    lines = out.splitlines()
    first = next(i for i, line in enumerate(lines) if "auto_ets" in line)
    assert lines[first].split()[:4] == ["1", "auto_ets", "small", "*"]
    assert "0.812" in lines[first]
    assert lines[first + 1].split()[:3] == ["2", "seasonal_naive", "small"]
    assert "mstl" not in out  # another pipeline's backtest
    assert "Champion: auto_ets:small. lowest mase" in out


def test_forecasts_show_history_tail_and_quantiles(target):
    current = current_data_version()
    publish(target, dt.datetime(2024, 2, 1), current, current)
    out = _ok("forecasts", "--series", "b", "--history", "3", "--target", target)
    assert "Series 'b': model warecast_forecaster version 2 (auto_ets)" in out
    assert "forecast from 2021-12-01, written 2024-03-01 12:30:00" in out
    history = out.split("History (last 3 periods):")[1].split("Forecast")[0]
    assert [line.split() for line in history.strip().splitlines()[2:]] == [
        ["2021-10-01", "41.000"],
        ["2021-11-01", "42.000", "yes"],  # the filled period is marked
        ["2021-12-01", "43.000"],
    ]
    forecast = out.split("Forecast (3 steps):")[1].strip().splitlines()[2:]
    assert [line.split() for line in forecast] == [
        ["1", "2022-01-01", "200.000", "201.000", "202.500"],
        ["2", "2022-02-01", "201.000", "202.000", "203.500"],
        ["3", "2022-03-01", "202.000", "203.000", "204.500"],
    ]


def test_forecasts_of_an_unknown_series_or_model_say_what_exists(target):
    current = current_data_version()
    publish(target, dt.datetime(2024, 2, 1), current, current)
    unknown = warecast("forecasts", "--series", "bb", "--target", target)
    assert unknown.returncode == 2
    assert "Series 'bb' is not in marts.fct_forecasts_latest (2 series known)" in unknown.stderr
    assert "such as 'b'" in unknown.stderr
    other = warecast("forecasts", "--series", "a", "--model", "nope", "--target", target)
    assert other.returncode == 2
    assert "has forecasts of ['warecast_forecaster']" in other.stderr
    assert "--model warecast_forecaster" in other.stderr


def test_status_when_everything_is_current(target):
    current = current_data_version()
    publish(target, dt.datetime(2024, 2, 1), current, current)
    out = _ok("status", "--target", target)
    assert f"target {target!r}" in out and "pipeline 'aus_retail'" in out
    assert "48 rows, 2 series, newest load 2024-02-01" in out
    assert f"48 rows, 2 series, 2020-01-01 .. 2021-12-01; data version {current}" in out
    champion = "version 2 since 2024-03-01 12:30:00, backtest mase 0.812; trained on data"
    assert f"{champion} version {current}" in out
    assert "6 rows for 2 series, written 2024-03-01 12:30:00 by version 2" in out
    assert out.splitlines()[-1].split() == ["stale", "nothing"]


def test_status_names_what_is_stale(target):
    publish(target, dt.datetime(2024, 4, 1), "older", "older")
    out = _ok("status", "--target", target)
    assert "raw data was loaded after the newest forecasts: warecast run --dataset current" in out
    assert "the champion was trained on other feature data" in out
    assert "the forecasts were made from other feature data" in out


def test_quick_looks_before_any_run_say_to_run_first(target):
    if target == "postgres":  # an empty database: the marts are missing
        result = warecast("leaderboard", "--target", target)
        assert "marts.fct_model_leaderboard does not exist on this target yet" in result.stderr
    else:  # no DuckDB file at all; none is created by looking
        result = warecast("status", "--target", target)
        assert "There is no DuckDB warehouse at" in result.stderr
        assert not list(client("duckdb").path.parent.glob("*.duckdb"))
    assert result.returncode == 2
    assert "warecast run" in result.stderr
    assert len(stderr_lines(result)) <= 3, result.stderr
