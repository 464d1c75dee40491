"""Forecast accuracy metrics and the forecast-vs-actual plot."""

from __future__ import annotations

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt
import numpy as np
import pandas as pd


def mae(actual: np.ndarray, forecast: np.ndarray) -> float:
    return float(np.mean(np.abs(np.asarray(actual) - np.asarray(forecast))))


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
