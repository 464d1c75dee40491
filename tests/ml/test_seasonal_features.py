"""The global LightGBM on hourly data with a second season (the week): the target's seasonal lag
at every declared season and the target's calendar, gathered from dbt's columns, never read
past the origin, and predict() reads enough history for them."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from benchmarks.pandas_features import add_features
from ml.backtest import BacktestConfig, Candidate
from ml.batched import history_needed
from ml.config import ForecastSpec
from ml.conformal import series_scale
from ml.models import create_forecaster
from ml.models.direct_rows import DirectRows, Panel, feature_names
from tests.ml.helpers import assert_no_look_ahead

SPEC = ForecastSpec(horizon=24, freq="h", season_length=24, extra_seasons=(168,))


def _hourly(n_series: int = 4, hours: int = 24 * 7 * 5) -> pd.DataFrame:
    """Daily and weekly cycles (weekends lower), a level per series, noise."""
    rng = np.random.default_rng(3)
    ts = pd.date_range("2026-01-05", periods=hours, freq="h")  # a Monday
    day = np.sin(2 * np.pi * ts.hour / 24)
    weekend = (ts.dayofweek >= 5).astype(float)
    parts = []
    for k in range(n_series):
        value = 50 + 10 * k + 8 * day - 15 * weekend + rng.normal(0, 1, hours)
        parts.append(pd.DataFrame({"series_id": f"s{k}", "ts": ts, "value": value}))
    return pd.concat(parts, ignore_index=True)


def _features(frame: pd.DataFrame) -> pd.DataFrame:
    """What dbt's fct_training_features computes (its pandas twin, checked by the parity test)."""
    return add_features(frame.assign(is_filled=False), 6, SPEC.season_length)


def test_the_rows_hold_the_targets_weekly_lag_and_calendar():
    panel = Panel.build(_features(_hourly(n_series=1)))
    rows = DirectRows(SPEC)
    origins = np.array([200, 300, 700])
    o, h = np.repeat(origins, 24), np.tile(np.arange(1, 25), 3)
    matrix, _, _ = rows.design(panel, o, h)
    names = list(feature_names(SPEC))
    target = pd.DatetimeIndex(panel.ts[o + h])
    np.testing.assert_array_equal(matrix[:, names.index("target_hour")], target.hour)
    weekday = (target.dayofweek + 1) % 7  # dbt's day of week: Sunday 0
    np.testing.assert_array_equal(matrix[:, names.index("target_day_of_week")], weekday)
    # the value one week before the target, centred and scaled as every value-like column
    level = panel.columns["rolling_mean_season"][o]
    scale = series_scale(level, panel.columns["rolling_std_season"][o])
    week_before = panel.columns["value"][o + h - 168]
    expected = (week_before - level) / scale
    np.testing.assert_allclose(matrix[:, names.index("anchor_168")], expected, rtol=1e-5)
    early, _, _ = rows.design(panel, np.array([60]), np.array([1]))  # no week before it
    assert np.isnan(early[0, names.index("anchor_168")])


def test_rewriting_everything_after_a_cutoff_leaves_its_forecasts_unchanged():
    raw = _hourly()
    candidate = [Candidate("lightgbm", "tiny", lambda: create_forecaster("lightgbm", "tiny"))]
    config = BacktestConfig(cutoffs=2, step=24)
    assert_no_look_ahead(raw, _features, SPEC, candidate, config)


def test_the_weekly_lag_is_used_and_predict_reads_a_week_of_history():
    features = _features(_hourly())
    model = create_forecaster("lightgbm", "tiny")
    model.fit(features, SPEC, validate=False)
    gain = dict(zip(model.feature_names(), model.booster.feature_importance("gain"), strict=True))
    assert gain["anchor_168"] > 0 and gain["target_day_of_week"] + gain["anchor_168"] > 0
    needed = history_needed(model)
    assert needed == 168
    tail = features.groupby("series_id").tail(needed)
    pd.testing.assert_frame_equal(model.predict(tail), model.predict(features))
    shorter = features.groupby("series_id").tail(needed - 1)
    assert not model.predict(shorter).equals(model.predict(features))  # the bound is tight


@pytest.mark.parametrize("extra", [(24,), (12,)])
def test_extra_seasons_must_be_longer_than_the_season(extra):
    with pytest.raises(ValueError, match="longer than season_length 24"):
        ForecastSpec(horizon=24, freq="h", season_length=24, extra_seasons=extra)
