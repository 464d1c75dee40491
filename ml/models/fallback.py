"""Seasonal naive with empirical quantiles: the labelled forecast for series too short to model."""

from __future__ import annotations

import numpy as np
import pandas as pd

from ml.config import ForecastSpec

METHOD = "seasonal_naive_fallback"


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
