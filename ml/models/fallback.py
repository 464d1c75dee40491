"""Seasonal naive with empirical quantiles: the labelled forecast for series too short to model."""

from __future__ import annotations

import numpy as np
import pandas as pd

from ml.config import ForecastSpec
from ml.models.base import FORECAST_COLUMNS, Forecaster

METHOD = "seasonal_naive_fallback"


def can_fit(model: Forecaster, frame: pd.DataFrame, spec: ForecastSpec, validate: bool) -> bool:
    """Whether the frame's longest series reaches the model's declared minimum
    (Forecaster.min_history): below it the model is not fitted, every series falls back."""
    return longest_series(frame) >= model.min_history(spec, validate)


def longest_series(frame: pd.DataFrame) -> int:
    """Periods of the frame's longest series (0 for no rows): what min_history is compared with."""
    return int(frame.groupby("series_id").size().max()) if len(frame) else 0


def fallback_forecast(frame: pd.DataFrame, spec: ForecastSpec) -> pd.DataFrame:
    """seasonal_naive_forecast of every series in a validated frame, FORECAST_COLUMNS."""
    parts = [seasonal_naive_forecast(h, spec) for _, h in frame.groupby("series_id", sort=True)]
    return pd.concat(parts, ignore_index=True) if parts else pd.DataFrame(columns=FORECAST_COLUMNS)


def seasonal_naive_forecast(history: pd.DataFrame, spec: ForecastSpec) -> pd.DataFrame:
    """history: one series (ts, value), sorted, no nulls. Repeats the last season."""
    values = history["value"].to_numpy(dtype=float)
    lag = spec.season_length if len(values) > spec.season_length else 1
    steps = np.arange(1, spec.horizon + 1)
    p50 = values[len(values) - lag + (steps - 1) % lag]
    residuals = values[lag:] - values[:-lag] if len(values) > lag else np.zeros(1)
    # Wider bands further out: residual quantiles grow with the number of seasons ahead.
    growth = np.sqrt(np.ceil(steps / lag))
    low, high = np.quantile(residuals, [0.1, 0.9])
    origin = history["ts"].iloc[-1]
    offset = pd.tseries.frequencies.to_offset(spec.freq)
    return pd.DataFrame(
        {
            "series_id": history["series_id"].iloc[0],
            "forecast_origin": origin,
            "target_ts": pd.date_range(origin + offset, periods=spec.horizon, freq=spec.freq),
            "horizon_step": steps,
            "p10": p50 + min(low, 0.0) * growth,
            "p50": p50,
            "p90": p50 + max(high, 0.0) * growth,
            "method": METHOD,
        }
    )
