"""marts.fct_forecast_anomalies and its Dagster asset check, on real DuckDB data built by dbt.

25 series observed to 2018-12 and forecast from 2018-09: first 15 of them get bands above the
December actual (60 % anomalies, far above the nominal 20 %: the check warns), then the forecasts
are rewritten with 3 misses (12 %: it passes).
"""

from __future__ import annotations

import dagster as dg
import pandas as pd
import pytest

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


def _bands(misses: int) -> dict:
    """Steps 1-2 (Oct, Nov) always inside; step 3 (Dec) above the actual for `misses` series."""
    return {s: [INSIDE, INSIDE, ABOVE if i < misses else INSIDE] for i, s in enumerate(SERIES)}


def _evaluate() -> dg.AssetCheckResult:
    return anomaly_share_check(KEY)(warehouse=WarehouseResource(target="duckdb"))


def test_anomaly_mart_and_check_warn_then_pass(warecast_home, tmp_path):
    warehouse = client()
    write_raw(warehouse, {s: [100.0] * 24 for s in SERIES}, "2017-01-01")
    write_forecasts(warehouse, forecast_frame(_bands(15), "2018-09-01", "1"))
    run_dbt(copy_project(tmp_path), "build", "--select", "+fct_forecast_anomalies")

    anomalies = warehouse.read_table("marts", "fct_forecast_anomalies").to_pandas()
    assert len(anomalies) == 3 * len(SERIES)  # every forecast row has an actual
    december = anomalies[anomalies["target_ts"] == pd.Timestamp("2018-12-01")]
    missed = december[december["is_anomaly"]]
    assert len(missed) == 15 and set(missed["direction"]) == {"below"}
    assert missed["band_widths_outside"].tolist() == [-0.5] * 15  # (100 - 110) / (130 - 110)
    assert set(missed["mlflow_run_id"]) == {"mlflow-run-v1"}
    assert set(missed["dagster_run_id"]) == {"dagster-run-v1"}
    assert not anomalies[anomalies["target_ts"] < pd.Timestamp("2018-12-01")]["is_anomaly"].any()

    warned = _evaluate()
    assert warned.check_name == ANOMALY_CHECK and warned.asset_key == KEY
    assert not warned.passed and warned.severity == dg.AssetCheckSeverity.WARN
    assert warned.metadata["anomaly_share"].value == pytest.approx(0.6)
    assert warned.metadata["newest_period"].value.startswith("2018-12-01")

    # The next forecast run's bands fit: the mart is a view, the check passes on the new rows.
    write_forecasts(warehouse, forecast_frame(_bands(3), "2018-09-01", "2"))
    passed = _evaluate()
    assert passed.passed, passed.metadata["detail"].value
    assert passed.metadata["anomalies"].value == 3 and passed.metadata["points"].value == 25


def test_too_few_points_or_no_actuals_are_not_judged():
    few = pd.DataFrame(
        {"target_ts": [pd.Timestamp("2019-01-01")] * 2, "is_anomaly": [True, False]}
    ).assign(row_count=[ANOMALY_MIN_POINTS - 2, 1])
    result = anomaly_share_result(few, KEY)
    assert result.passed and "not judged" in result.metadata["detail"].value
    empty = pd.DataFrame(columns=["target_ts", "is_anomaly", "row_count"])
    assert anomaly_share_result(empty, KEY).passed


def test_the_check_is_registered_on_the_dbt_asset():
    from orchestration.definitions import defs

    checks = defs.resolve_asset_graph().asset_check_keys
    assert dg.AssetCheckKey(KEY, ANOMALY_CHECK) in checks
