"""marts.fct_forecast_anomalies and its Dagster asset check, on real DuckDB data built by dbt.

25 series observed to 2018-12. The newest backtest run scored two models on cutoffs 2018-08 and
2018-09 (3 steps each, overlapping in Oct and Nov); an older run's points must not show. First
only backtest bands have actuals: the champion (auto_ets) misses 3 of 25 December actuals (the
check passes) while seasonal_naive misses 20; made champion, seasonal_naive's 80 % warns. Then
forecasts from 2018-09 put 15 bands above the December actual (60 %: the published band is
judged and warns), then are rewritten with 3 misses (12 %: it passes).
"""

from __future__ import annotations

import dagster as dg
import pandas as pd
import pyarrow as pa
import pytest

from orchestration.assets.backtest import POINTS_SCHEMA, SUMMARY_SCHEMA
from orchestration.checks import (
    ANOMALY_CHECK,
    ANOMALY_MIN_POINTS,
    anomaly_share_check,
    anomaly_share_result,
)
from orchestration.resources import WarehouseResource
from tests.dbt.forecast_marts import (
    client,
    copy_project,
    forecast_frame,
    run_dbt,
    write_forecasts,
    write_raw,
)

KEY = dg.AssetKey(["marts", "fct_forecast_anomalies"])
SERIES = [f"S{i:02d}" for i in range(25)]
INSIDE, ABOVE = (90.0, 100.0, 110.0), (110.0, 120.0, 130.0)  # the actual is 100
DECEMBER = pd.Timestamp("2018-12-01")
MISSES = {"auto_ets": 3, "seasonal_naive": 20}  # December misses of the newest backtest


def _bands(misses: int) -> dict:
    """Steps 1-2 (Oct, Nov) always inside; step 3 (Dec) above the actual for `misses` series."""
    return {s: [INSIDE, INSIDE, ABOVE if i < misses else INSIDE] for i, s in enumerate(SERIES)}


def _point(run: str, model: str, cutoff: str, step: int, series: str, band: tuple) -> dict:
    origin = pd.Timestamp(cutoff)
    return {
        "backtest_run_id": run,
        "pipeline": "aus_retail",
        "model": model,
        "cutoff": origin,
        "series_id": series,
        "target_ts": origin + pd.DateOffset(months=step),
        "horizon_step": step,
        "actual": 100.0,
        "p10": band[0],
        "p50": band[1],
        "p90": band[2],
        "method": model,
        "scale": 1.0,
        "mlflow_run_id": f"mlflow-{run}",
        "dagster_run_id": f"dagster-{run}",
        "created_at": pd.Timestamp("2026-01-01" if run == "old" else "2026-02-01"),
    }


def write_backtest(warehouse, champion: str) -> None:
    """ml.backtest_points of an older run and the newest; the newest run's summary rows."""
    points = [_point("old", "auto_ets", "2018-09-01", 3, s, ABOVE) for s in SERIES]
    for model, misses in MISSES.items():
        for i, series in enumerate(SERIES):
            december = ABOVE if i < misses else INSIDE
            points += [_point("new", model, "2018-08-01", n, series, INSIDE) for n in (1, 2, 3)]
            points += [_point("new", model, "2018-09-01", n, series, INSIDE) for n in (1, 2)]
            points.append(_point("new", model, "2018-09-01", 3, series, december))
    warehouse.replace_table("ml", "backtest_points", pa.Table.from_pylist(points, POINTS_SCHEMA))
    summary = [
        {
            "backtest_run_id": "new",
            "pipeline": "aus_retail",
            "model": m,
            "is_champion": m == champion,
        }
        for m in MISSES
    ]
    table = pa.Table.from_pylist(summary, SUMMARY_SCHEMA)
    warehouse.replace_table("ml", "backtest_summary", table)


def _evaluate() -> dg.AssetCheckResult:
    return anomaly_share_check(KEY)(warehouse=WarehouseResource(target="duckdb"))


def _values(result: dg.AssetCheckResult) -> dict:
    return {name: value.value for name, value in result.metadata.items()}


def test_anomaly_mart_scores_backtest_and_forecast_bands(warecast_home, tmp_path):
    warehouse = client()
    write_raw(warehouse, {s: [100.0] * 24 for s in SERIES}, "2017-01-01")
    write_backtest(warehouse, champion="auto_ets")
    write_forecasts(warehouse, forecast_frame(_bands(0), "2018-12-01", "1"))  # no actuals yet
    run_dbt(copy_project(tmp_path), "build", "--select", "+fct_forecast_anomalies")

    bands = warehouse.read_table("marts", "fct_forecast_anomalies").to_pandas()
    assert set(bands["band_source"]) == {"backtest"} and set(bands["backtest_run_id"]) == {"new"}
    # One band per actual per model: Sep from cutoff 2018-08, Oct-Dec from the newer 2018-09.
    assert len(bands) == 2 * len(SERIES) * 4
    assert not bands.duplicated(["model", "series_id", "target_ts"]).any()
    assert set(bands.loc[bands["target_ts"] > pd.Timestamp("2018-09-01"), "forecast_origin"]) == {
        pd.Timestamp("2018-09-01")
    }
    missed = bands[bands["is_anomaly"]]
    assert missed.groupby("model").size().to_dict() == MISSES
    assert set(missed["target_ts"]) == {DECEMBER} and set(missed["direction"]) == {"below"}
    assert set(bands.loc[bands["is_champion_model"], "model"]) == {"auto_ets"}
    assert bands["model_name"].isna().all() and set(bands["mlflow_run_id"]) == {"mlflow-new"}

    judged = _values(_evaluate())  # the champion's December: 3 of 25
    assert judged["band_source"] == "backtest" and judged["model"] == "auto_ets"
    assert (judged["points"], judged["anomalies"]) == (25, 3)
    assert judged["every_model_anomaly_share"] == pytest.approx(23 / 50)
    assert _evaluate().passed

    write_backtest(warehouse, champion="seasonal_naive")  # the mart is a view: no rebuild
    warned = _evaluate()
    assert not warned.passed and warned.severity == dg.AssetCheckSeverity.WARN
    assert _values(warned)["anomaly_share"] == pytest.approx(0.8)

    # Published forecasts with actuals: their newest period is judged, not the backtest's.
    write_forecasts(warehouse, forecast_frame(_bands(15), "2018-09-01", "1"))
    published = warehouse.read_table("marts", "fct_forecast_anomalies").to_pandas()
    forecast = published[published["band_source"] == "forecast"]
    assert len(forecast) == 3 * len(SERIES) and forecast["backtest_run_id"].isna().all()
    december = forecast[forecast["target_ts"] == DECEMBER]
    assert december["band_widths_outside"][december["is_anomaly"]].tolist() == [-0.5] * 15
    assert set(forecast["model"]) == {"auto_ets"} and forecast["is_champion_model"].all()
    assert set(forecast["mlflow_run_id"]) == {"mlflow-run-v1"}
    warned = _evaluate()
    assert warned.check_name == ANOMALY_CHECK and warned.asset_key == KEY
    assert not warned.passed and _values(warned)["band_source"] == "forecast"
    assert _values(warned)["anomaly_share"] == pytest.approx(0.6)
    assert _values(warned)["newest_period"].startswith("2018-12-01")

    write_forecasts(warehouse, forecast_frame(_bands(3), "2018-09-01", "2"))
    passed = _evaluate()
    assert passed.passed, passed.metadata["detail"].value
    assert (_values(passed)["anomalies"], _values(passed)["points"]) == (3, 25)


def _counts(rows: list[tuple]) -> pd.DataFrame:
    columns = ["band_source", "model", "is_champion_model", "target_ts", "is_anomaly", "row_count"]
    return pd.DataFrame(rows, columns=columns)


def test_too_few_points_or_no_actuals_are_not_judged():
    ts = pd.Timestamp("2019-01-01")
    few = _counts(
        [
            ("forecast", "ets", True, ts, True, ANOMALY_MIN_POINTS - 2),
            ("forecast", "ets", True, ts, False, 1),
        ]
    )
    result = anomaly_share_result(few, KEY)
    assert result.passed and "not judged" in result.metadata["detail"].value
    assert anomaly_share_result(_counts([]), KEY).passed
    others_only = _counts([("backtest", "naive", False, ts, True, 100)])  # no champion band
    assert anomaly_share_result(others_only, KEY).passed


def test_the_check_is_registered_on_the_dbt_asset():
    from orchestration.definitions import defs

    checks = defs.resolve_asset_graph().asset_check_keys
    assert dg.AssetCheckKey(KEY, ANOMALY_CHECK) in checks
