"""Demo data, synthetic generator, metrics, fallback, and the purity of `ml`."""

from __future__ import annotations

import subprocess
import sys

import numpy as np
import pandas as pd
import pytest

from ml.config import ForecastSpec, family_preset
from ml.datasets import load_aus_retail
from ml.evaluation import coverage, mae, mase, pinball, seasonal_naive_scale
from ml.models.fallback import METHOD, seasonal_naive_forecast
from ml.synthetic import generate_server_metrics


def test_aus_retail_shape():
    frame = load_aus_retail()
    sizes = frame.groupby("series_id").size()
    assert len(frame) == 64532
    assert len(sizes) == 152
    assert (sizes == 32).sum() == 2
    assert frame["ts"].min() == pd.Timestamp("1982-04-01")


def test_synthetic_is_reproducible_and_bounded():
    a = generate_server_metrics(20, 24 * 14, "mixed", seed=3)
    b = generate_server_metrics(20, 24 * 14, "mixed", seed=3)
    c = generate_server_metrics(20, 24 * 14, "mixed", seed=4)
    pd.testing.assert_frame_equal(a, b)
    assert not a["value"].equals(c["value"])
    assert a["value"].between(0, 100).all()
    assert a["series_id"].nunique() == 20


def test_synthetic_scenarios_differ_as_documented():
    hours = 24 * 28
    healthy = generate_server_metrics(50, hours, "healthy", seed=1)
    degrading = generate_server_metrics(50, hours, "degrading", seed=1)
    critical = generate_server_metrics(50, hours, "critical", seed=1)
    assert len(healthy) == 50 * hours  # no outages
    assert len(critical) < 50 * hours  # outages are missing rows
    late = degrading[degrading["ts"] >= degrading["ts"].max() - pd.Timedelta(days=2)]
    late_healthy = healthy[healthy["ts"] >= healthy["ts"].max() - pd.Timedelta(days=2)]
    assert late["value"].mean() > late_healthy["value"].mean() + 10  # the leak
    with pytest.raises(ValueError, match="scenario"):
        generate_server_metrics(1, 10, "melting")


def test_metrics_by_hand():
    actual, forecast = np.array([1.0, 2.0, 4.0]), np.array([2.0, 2.0, 2.0])
    assert mae(actual, forecast) == pytest.approx(1.0)
    history = np.array([1.0, 3.0, 2.0, 4.0])  # seasonal naive (m=2) errors: 1, 1 -> scale 1
    assert seasonal_naive_scale(history, 2) == pytest.approx(1.0)
    assert mase(actual, forecast, history, 2) == pytest.approx(1.0)
    # pinball at q=0.9: diffs -1, 0, 2 -> max(0.9d, -0.1d) = 0.1, 0, 1.8 -> mean 0.6333
    assert pinball(actual, forecast, 0.9) == pytest.approx(1.9 / 3)
    assert coverage(actual, [0, 0, 0], [1.5, 2.5, 3.5]) == pytest.approx(2 / 3)


def test_fallback_repeats_last_season_with_ordered_quantiles():
    ts = pd.date_range("2020-01-01", periods=30, freq="MS")
    values = np.tile(np.arange(12.0), 3)[:30] + np.linspace(0, 3, 30)
    history = pd.DataFrame({"series_id": "s", "ts": ts, "value": values})
    out = seasonal_naive_forecast(history, ForecastSpec(horizon=14, freq="MS", season_length=12))
    assert len(out) == 14 and set(out["method"]) == {METHOD}
    assert out["p50"].iloc[0] == pytest.approx(values[-12])
    assert out["p50"].iloc[12] == pytest.approx(values[-12])
    assert (out["p10"] <= out["p50"]).all() and (out["p50"] <= out["p90"]).all()
    assert out["target_ts"].iloc[0] == pd.Timestamp("2022-07-01")


def test_unknown_preset_lists_choices():
    choices = r"\['demo', 'large', 'medium', 'small', 'tiny'\]"
    with pytest.raises(ValueError, match=f"choose one of {choices}"):
        family_preset("tft", "huge")


def test_ml_imports_no_orchestration_or_drivers():
    code = (
        "import sys, ml.models.tft, ml.datasets, ml.synthetic, ml.evaluation, ml.models;"
        "bad = [m for m in sys.modules if m.split('.')[0] in "
        "{'dagster', 'mlflow', 'duckdb', 'psycopg', 'adbc_driver_postgresql', 'snowflake', "
        "'orchestration'}];"
        "print(bad); sys.exit(1 if bad else 0)"
    )
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert result.returncode == 0, result.stdout + result.stderr
