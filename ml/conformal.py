"""Conformal intervals: p10/p90 placed around p50 from out-of-sample residuals, per horizon step.

A model (or an ensemble) forecasts an origin it was not trained past, the residuals
(actual - p50) are divided by each series' scale at that origin, and the 10 % / 90 % quantiles
of those normalised residuals at each horizon step become the band:

    p10 = p50 + low[h] * scale,   p90 = p50 + high[h] * scale

Split conformal prediction for a quantile band: with exchangeable residuals, 80 % of future
actuals fall inside. Residuals are pooled over neighbouring steps (h-1, h, h+1) so each step's
quantiles rest on three times the series, and low <= 0 <= high keeps p10 <= p50 <= p90.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd

from ml.config import QUANTILES

# Neighbouring steps pooled for each step's residual quantiles.
POOL_STEPS = 1


@dataclass(frozen=True)
class ResidualBand:
    """Normalised residual quantiles per horizon step (index 0 = step 1)."""

    low: np.ndarray
    high: np.ndarray
    n_residuals: int

    @classmethod
    def fit(cls, residuals: pd.DataFrame, horizon: int) -> ResidualBand:
        """residuals: horizon_step, error = (actual - p50) / scale, finite rows only used."""
        data = residuals[np.isfinite(residuals["error"])]
        if data.empty:
            raise ValueError("No finite out-of-sample residuals to calibrate an interval from.")
        by_step = data.groupby("horizon_step")["error"].apply(np.asarray).to_dict()
        pooled_all = data["error"].to_numpy()
        low, high = np.zeros(horizon), np.zeros(horizon)
        for step in range(1, horizon + 1):
            near = [
                by_step[s] for s in range(step - POOL_STEPS, step + POOL_STEPS + 1) if s in by_step
            ]
            errors = np.concatenate(near) if near else pooled_all
            low[step - 1], high[step - 1] = np.quantile(errors, [QUANTILES[0], QUANTILES[-1]])
        return cls(np.minimum(low, 0.0), np.maximum(high, 0.0), len(data))

    def interval(self, p50: np.ndarray, steps: np.ndarray, scale: np.ndarray):
        """(p10, p90) around p50 at horizon `steps` (1-based) for series of `scale`."""
        index = np.asarray(steps, dtype=int) - 1
        return p50 + self.low[index] * scale, p50 + self.high[index] * scale

    def apply(self, forecast: pd.DataFrame, scale: pd.Series) -> pd.DataFrame:
        """forecast: FORECAST_COLUMNS; scale: per series_id. p10/p90 replaced, p50 kept."""
        out = forecast.copy()
        s = out["series_id"].map(scale).to_numpy(dtype="float64")
        p50 = out["p50"].to_numpy(dtype="float64")
        out["p10"], out["p90"] = self.interval(p50, out["horizon_step"].to_numpy(), s)
        return out

    def to_dict(self) -> dict:
        return {"low": self.low.tolist(), "high": self.high.tolist(), "n": self.n_residuals}

    @classmethod
    def from_dict(cls, data: dict, horizon: int) -> ResidualBand:
        low, high = np.asarray(data["low"], float), np.asarray(data["high"], float)
        if low.shape != (horizon,) or high.shape != (horizon,):
            raise ValueError(f"band must have {horizon} steps, has {low.shape} and {high.shape}")
        if not (np.isfinite(low).all() and np.isfinite(high).all()):
            raise ValueError("band holds non-finite numbers")
        if (low > 0).any() or (high < 0).any():
            raise ValueError("band must keep p10 <= p50 <= p90 (low <= 0 <= high)")
        return cls(low, high, int(data["n"]))


def series_scale(level: np.ndarray, spread: np.ndarray) -> np.ndarray:
    """The unit each series' errors are measured in: |level|, or the spread for a series near
    zero, 1 for a constant zero series (its errors are then in the series' own units)."""
    scale = np.maximum(np.abs(level), np.nan_to_num(spread, nan=0.0))
    return np.where(np.isfinite(scale) & (scale > 0), scale, 1.0)


def history_scale(history: pd.DataFrame, season_length: int) -> pd.Series:
    """series_scale of the last season of each series' values (series_id -> scale)."""
    tail = history.groupby("series_id", sort=True).tail(season_length)
    stats = tail.groupby("series_id", sort=True)["value"].agg(["mean", "std"])
    return pd.Series(series_scale(stats["mean"].to_numpy(), stats["std"].to_numpy()), stats.index)


def residuals(validation: pd.DataFrame, scale: pd.Series) -> pd.DataFrame:
    """validation: series_id, horizon_step, actual, p50 -> horizon_step, error (normalised)."""
    s = validation["series_id"].map(scale).to_numpy(dtype="float64")
    error = (validation["actual"].to_numpy(dtype="float64") - validation["p50"].to_numpy()) / s
    return pd.DataFrame({"horizon_step": validation["horizon_step"].to_numpy(), "error": error})
