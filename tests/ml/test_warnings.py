"""A readable run: the demo pipeline's models (and every network) fit and
forecast 6 aus_retail series with their feature columns without any single warning repeating.

`make demo` once printed 164,432 copies of sklearn's "X does not have valid feature names"
from pytorch-forecasting's per-sample target-scale scaling (ml/models/pf_dataset.py). Warnings
are recorded with every filter set to "always", so a warning raised once per sample or per
batch shows up as hundreds, where the default filter would print it only once per location.
"""

from __future__ import annotations

import warnings
from collections import Counter

import numpy as np
import pandas as pd
import pytest
import torch
from sklearn.preprocessing import StandardScaler

from ml.config import ForecastSpec
from ml.datasets import load_aus_retail
from ml.models import MODELS, create_forecaster
from ml.models.pf_dataset import scale_array

SPEC = ForecastSpec(horizon=6, freq="MS", season_length=12)
# Every network is checked whatever the demo runs: the flood came from the TimeSeriesDataSet
# ones (tft, deepar, nhits); the tensor-path ones train Lightning loops of their own.
ALWAYS = ("tft", "deepar", "nhits", "lstm", "informer", "mlp")
MAX_REPEATS = 3


def demo_models() -> list[str]:
    try:
        from orchestration.settings import load_pipeline

        names = [m.name for m in load_pipeline("aus_retail").models]
    except ImportError:  # ml/ without the orchestration package
        names = ["seasonal_naive", "auto_ets"]
    return sorted({n for n in [*names, *ALWAYS] if n in MODELS})


@pytest.fixture(scope="module")
def frame() -> pd.DataFrame:
    """6 series, 8 years each, with the columns of marts.fct_training_features."""
    raw = load_aus_retail()
    keep = sorted(raw["series_id"].unique())[:6]
    frame = raw[raw["series_id"].isin(keep)].groupby("series_id").tail(96).reset_index(drop=True)
    value = frame.groupby("series_id")["value"]
    frame["lag_1"] = value.shift(1)
    frame["lag_season"] = value.shift(12)
    for name, window in (("short", 3), ("season", 12)):
        frame[f"rolling_mean_{name}"] = value.transform(lambda v, w=window: v.rolling(w).mean())
        frame[f"rolling_std_{name}"] = value.transform(lambda v, w=window: v.rolling(w).std())
    ts = frame["ts"].dt
    frame["cal_year"], frame["cal_quarter"], frame["cal_month"] = ts.year, ts.quarter, ts.month
    frame["cal_day_of_week"], frame["cal_hour"] = (ts.dayofweek + 1) % 7, ts.hour  # 0 = Sunday
    frame["is_filled"], frame["is_outlier"] = False, False
    return frame


@pytest.mark.parametrize("name", demo_models())
def test_no_warning_repeats(name, frame):
    model = create_forecaster(name, "tiny")
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        model.fit(frame, SPEC)
        model.predict(frame)
    counts = Counter(f"{w.category.__name__}: {w.message}" for w in caught)
    repeated = {message: n for message, n in counts.items() if n > MAX_REPEATS}
    assert not repeated, f"{name} repeats warnings: {repeated}"


@pytest.mark.parametrize("with_mean", [True, False])
def test_the_array_path_scales_exactly_like_sklearn(with_mean):
    fitted = pd.DataFrame({"value_center": np.random.default_rng(0).lognormal(3, 1, 50)})
    scaler = StandardScaler(with_mean=with_mean).fit(fitted)
    values = torch.tensor([0.5, 20.0, 300.0])
    expected = scaler.transform(pd.DataFrame({"value_center": values.double().numpy()})).ravel()
    np.testing.assert_allclose(scale_array(scaler, values), expected, rtol=1e-12)
    back = scaler.inverse_transform(expected.reshape(-1, 1)).ravel()
    np.testing.assert_allclose(scale_array(scaler, expected, inverse=True), back, rtol=1e-12)
