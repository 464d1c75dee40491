"""The usual Python feature pipeline, the baseline warecast's dbt model is measured against.

Same definitions as marts.fct_training_features: lags, trailing rolling mean and sample std that
stay null until the window is full, calendar columns (day of week 0 = Sunday).
"""

from __future__ import annotations

import numpy as np
import pandas as pd

FEATURE_COLUMNS = (
    "lag_1",
    "lag_season",
    "rolling_mean_short",
    "rolling_std_short",
    "rolling_mean_season",
    "rolling_std_season",
)


def regularize_hourly(raw: pd.DataFrame) -> pd.DataFrame:
    """raw (series_id, ts, value, loaded_at) -> one row per series and hour, gaps forward-filled."""
    latest = raw.sort_values("loaded_at").drop_duplicates(["series_id", "ts"], keep="last")
    hourly = latest.assign(ts=latest["ts"].dt.floor("h"))
    hourly = hourly.groupby(["series_id", "ts"], as_index=False)["value"].mean()
    grids = []
    for series_id, part in hourly.groupby("series_id", sort=True):
        grid = pd.date_range(part["ts"].min(), part["ts"].max(), freq="h")
        observed = part.set_index("ts")["value"].reindex(grid)
        grids.append(
            pd.DataFrame(
                {
                    "series_id": series_id,
                    "ts": grid,
                    "value": observed.ffill().to_numpy(),
                    "is_filled": observed.isna().to_numpy(),
                }
            )
        )
    return pd.concat(grids, ignore_index=True)


def add_features(regular: pd.DataFrame, short_window: int, season_length: int) -> pd.DataFrame:
    """Features of a regular grid (series_id, ts, value, ...), sorted by series_id and ts."""
    frame = regular.sort_values(["series_id", "ts"], ignore_index=True)
    by_series = frame.groupby("series_id", sort=False)["value"]
    frame["lag_1"] = by_series.shift(1)
    frame["lag_season"] = by_series.shift(season_length)
    for name, window in (("short", short_window), ("season", season_length)):
        rolling = by_series.rolling(window, min_periods=window)
        frame[f"rolling_mean_{name}"] = rolling.mean().reset_index(level=0, drop=True)
        frame[f"rolling_std_{name}"] = rolling.std().reset_index(level=0, drop=True)
    ts = frame["ts"].dt
    frame["cal_year"] = ts.year.astype(np.int32)
    frame["cal_quarter"] = ts.quarter.astype(np.int32)
    frame["cal_month"] = ts.month.astype(np.int32)
    frame["cal_day_of_week"] = ((ts.dayofweek + 1) % 7).astype(np.int32)
    frame["cal_hour"] = ts.hour.astype(np.int32)
    return frame


def max_relative_difference(left: pd.DataFrame, right: pd.DataFrame) -> float:
    """Largest |a - b| / max(|a|, |b|, 1e-12) over the feature columns; NaN where exactly one is."""
    worst = 0.0
    for column in FEATURE_COLUMNS:
        a = left[column].to_numpy(dtype=float)
        b = right[column].to_numpy(dtype=float)
        if not np.array_equal(np.isnan(a), np.isnan(b)):
            return float("nan")
        both = ~np.isnan(a)
        scale = np.maximum(np.maximum(np.abs(a[both]), np.abs(b[both])), 1e-12)
        if both.any():
            worst = max(worst, float(np.max(np.abs(a[both] - b[both]) / scale)))
    return worst
