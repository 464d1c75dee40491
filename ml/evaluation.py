"""Forecast accuracy metrics and the forecast-vs-actual plot.

Point-wise helpers (`score_points`) turn backtest rows into per-row errors; `summarize_scores`
averages them, so a metric over any slice (model, series, horizon step) is the mean of its rows.
MAPE is undefined where an actual is zero: it is then null (NaN) for the whole slice, never a
silently partial average. sMAPE and MAPE are percentages.
"""

from __future__ import annotations

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt
import numpy as np
import pandas as pd


def mae(actual: np.ndarray, forecast: np.ndarray) -> float:
    return float(np.mean(np.abs(np.asarray(actual) - np.asarray(forecast))))


def rmse(actual: np.ndarray, forecast: np.ndarray) -> float:
    return float(np.sqrt(np.mean((np.asarray(actual) - np.asarray(forecast)) ** 2)))


def mape(actual, forecast) -> float:
    """Mean absolute percentage error; NaN when any actual is zero (it is undefined there)."""
    actual, forecast = np.asarray(actual, dtype=float), np.asarray(forecast, dtype=float)
    if (actual == 0).any():
        return float("nan")
    return float(100 * np.mean(np.abs(actual - forecast) / np.abs(actual)))


def smape(actual, forecast) -> float:
    """Symmetric MAPE in percent (0-200); a period where actual and forecast are both 0 scores 0."""
    return float(np.mean(_smape_terms(np.asarray(actual, float), np.asarray(forecast, float))))


def _smape_terms(actual: np.ndarray, forecast: np.ndarray) -> np.ndarray:
    denominator = np.abs(actual) + np.abs(forecast)
    with np.errstate(divide="ignore", invalid="ignore"):
        terms = np.where(denominator > 0, 200 * np.abs(actual - forecast) / denominator, 0.0)
    return terms


def seasonal_naive_scale(history: np.ndarray, season_length: int) -> float:
    """In-sample MAE of the seasonal naive forecast (lag 1 when the history is too short)."""
    history = np.asarray(history, dtype=float)
    lag = season_length if len(history) > season_length else 1
    if len(history) <= lag:
        return float("nan")
    return float(np.mean(np.abs(history[lag:] - history[:-lag])))


def mase(actual, forecast, history, season_length: int) -> float:
    scale = seasonal_naive_scale(history, season_length)
    return mae(actual, forecast) / scale if scale and np.isfinite(scale) else float("nan")


def pinball(actual, forecast, quantile: float) -> float:
    diff = np.asarray(actual) - np.asarray(forecast)
    return float(np.mean(np.maximum(quantile * diff, (quantile - 1) * diff)))


def coverage(actual, low, high) -> float:
    actual = np.asarray(actual)
    return float(np.mean((actual >= np.asarray(low)) & (actual <= np.asarray(high))))


QUANTILE_COLUMNS = {"p10": 0.1, "p50": 0.5, "p90": 0.9}
SUMMARY_METRICS = (
    "mae",
    "rmse",
    "mape",
    "smape",
    "mase",
    "pinball_p10",
    "pinball_p50",
    "pinball_p90",
    "pinball_mean",
    "coverage_80",
)


def score_points(points: pd.DataFrame) -> pd.DataFrame:
    """Per-row error terms of rows with actual, p10, p50, p90 and `scale` (the MASE denominator).

    `scaled_abs_error` is null where the scale is zero or undefined (a constant or one-point
    history): MASE then averages the rows where it is defined.
    """
    actual, p50 = points["actual"].to_numpy(float), points["p50"].to_numpy(float)
    scale = points["scale"].to_numpy(float)
    error = actual - p50
    out = pd.DataFrame(index=points.index)
    out["abs_error"] = np.abs(error)
    out["squared_error"] = error**2
    with np.errstate(divide="ignore", invalid="ignore"):
        out["ape"] = np.where(actual != 0, 100 * np.abs(error) / np.abs(actual), np.nan)
        out["scaled_abs_error"] = np.where(scale > 0, np.abs(error) / scale, np.nan)
    out["sape"] = _smape_terms(actual, p50)
    for column, q in QUANTILE_COLUMNS.items():
        diff = actual - points[column].to_numpy(float)
        out[f"pinball_{column}"] = np.maximum(q * diff, (q - 1) * diff)
    low, high = points["p10"].to_numpy(float), points["p90"].to_numpy(float)
    out["in_interval"] = (actual >= low) & (actual <= high)
    return out


def summarize_scores(scores: pd.DataFrame) -> dict[str, float]:
    """Every SUMMARY_METRICS value over the rows of `scores` (from score_points)."""
    pinballs = scores[[f"pinball_{c}" for c in QUANTILE_COLUMNS]].mean()
    zero_actuals = int(scores["ape"].isna().sum())
    return {
        "mae": float(scores["abs_error"].mean()),
        "rmse": float(np.sqrt(scores["squared_error"].mean())),
        "mape": float(scores["ape"].mean()) if zero_actuals == 0 else float("nan"),
        "smape": float(scores["sape"].mean()),
        "mase": float(scores["scaled_abs_error"].mean()),
        **{name: float(value) for name, value in pinballs.items()},
        "pinball_mean": float(pinballs.mean()),
        "coverage_80": float(scores["in_interval"].mean()),
        "n_zero_actuals": zero_actuals,
    }


def plot_forecast_vs_actual(
    history: pd.DataFrame, validation: pd.DataFrame, n_series: int = 6, context: int = 48
):
    """Small multiples: recent history, held-out actuals, p50 and the p10-p90 band."""
    series = sorted(validation["series_id"].unique())[:n_series]
    cols = 2
    rows = max(1, int(np.ceil(len(series) / cols)))
    fig, axes = plt.subplots(rows, cols, figsize=(11, 2.6 * rows), squeeze=False)
    for ax, sid in zip(axes.flat, series, strict=False):
        past = history[history["series_id"] == sid].sort_values("ts")
        val = validation[validation["series_id"] == sid].sort_values("target_ts")
        past = past[past["ts"] < val["target_ts"].min()].tail(context)
        ax.plot(past["ts"], past["value"], color="0.3", lw=1, label="history")
        ax.plot(val["target_ts"], val["actual"], color="black", lw=1.2, label="actual")
        ax.plot(val["target_ts"], val["p50"], color="tab:blue", lw=1.2, label="p50")
        ax.fill_between(
            val["target_ts"], val["p10"], val["p90"], color="tab:blue", alpha=0.2, label="p10-p90"
        )
        ax.set_title(str(sid), fontsize=9)
        ax.tick_params(labelsize=7)
    for ax in list(axes.flat)[len(series) :]:
        ax.axis("off")
    axes.flat[0].legend(fontsize=7)
    fig.tight_layout()
    return fig
