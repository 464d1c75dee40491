"""Plots people look at (Dagster metadata, MLflow artefacts): pure, matplotlib's Agg backend.

`fan_chart` draws a few series' history tail, the p50 and the p10-p90 band (and the actuals when
the rows have them, as backtest points do); `explanation_chart` draws what drove the forecast
(ml/explain.py). `png_bytes` renders a figure to PNG and closes it.
"""

from __future__ import annotations

import io

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt
import numpy as np
import pandas as pd

BAND_COLOR = "tab:blue"


def png_bytes(fig, dpi: int = 80) -> bytes:
    """The figure as PNG bytes; the figure is closed."""
    buffer = io.BytesIO()
    try:
        fig.savefig(buffer, format="png", dpi=dpi)
    finally:
        plt.close(fig)
    return buffer.getvalue()


def first_series(frame: pd.DataFrame, n_series: int) -> list[str]:
    """The first `n_series` series ids in sorted order: the same series every run."""
    return sorted(frame["series_id"].astype(str).unique())[:n_series]


def fan_chart(
    history: pd.DataFrame,
    forecasts: pd.DataFrame,
    n_series: int = 4,
    context: int = 36,
    title: str | None = None,
    labels: dict[str, str] | None = None,
    units: str | None = None,
):
    """Small multiples: the last `context` periods of history, p50 and the p10-p90 band.

    history: series_id, ts, value. forecasts: series_id, target_ts, p10, p50, p90 (and
    `actual`, drawn when present). Only history before each series' first target is drawn.
    Each panel is titled by the series' label (`labels`, e.g. its state and industry; else its
    id) and its legend gives the first forecast period's p50 and p10-p90, in `units` (the
    y axis' label, e.g. 'A$ million')."""
    series = first_series(forecasts, n_series)
    if not series:
        raise ValueError("fan_chart needs at least one forecast row; the frame is empty.")
    cols = min(2, len(series))
    rows = int(np.ceil(len(series) / cols))
    fig, axes = plt.subplots(rows, cols, figsize=(5.5 * cols, 2.6 * rows), squeeze=False)
    ids = history["series_id"].astype(str)
    for ax, sid in zip(axes.flat, series, strict=False):
        ahead = forecasts[forecasts["series_id"].astype(str) == sid].sort_values("target_ts")
        past = history[(ids == sid) & (history["ts"] < ahead["target_ts"].min())]
        past = past.sort_values("ts").tail(context)
        ax.plot(past["ts"], past["value"], color="0.3", lw=1, label="history")
        if "actual" in ahead:
            ax.plot(ahead["target_ts"], ahead["actual"], color="black", lw=1.2, label="actual")
        first = ahead.iloc[0]
        when = pd.Timestamp(first["target_ts"]).date()
        ax.plot(
            ahead["target_ts"], ahead["p50"], color=BAND_COLOR, lw=1.4,
            label=f"p50 {when}: {_number(first['p50'])}",
        )  # fmt: skip
        ax.fill_between(
            ahead["target_ts"], ahead["p10"], ahead["p90"], color=BAND_COLOR, alpha=0.2,
            label=f"p10-p90: {_number(first['p10'])} - {_number(first['p90'])}",
        )  # fmt: skip
        ax.set_title((labels or {}).get(sid, sid), fontsize=9)
        if units:
            ax.set_ylabel(units, fontsize=7)
        ax.tick_params(labelsize=7)
        ax.legend(fontsize=7, loc="upper left")
    for ax in list(axes.flat)[len(series) :]:
        ax.axis("off")
    if title:
        fig.suptitle(title, fontsize=10)
    fig.tight_layout()
    return fig


def _number(value: float) -> str:
    """Readable at a glance: thousands separated, 3 significant digits below 100."""
    return f"{value:,.0f}" if abs(value) >= 100 else f"{value:.3g}"


def explanation_summary(explanations: pd.DataFrame, top: int = 12) -> pd.DataFrame:
    """Per explained model, each component's share of what drove the forecast.

    LightGBM: its share of the total gain; TFT: of the variable selection weights. Components
    (trend, seasonal, ...): their mean absolute value over series and steps, as a share."""
    headline = {"lightgbm": "feature_importance_gain", "tft": "variable_importance"}
    wanted = explanations["explained_model"].map(headline)
    kept = explanations[wanted.isna() | (explanations["kind"] == wanted)]
    magnitude = kept.assign(value=kept["value"].abs())
    mean = magnitude.groupby(["explained_model", "component"], as_index=False)["value"].mean()
    mean["share"] = mean["value"] / mean.groupby("explained_model")["value"].transform("sum")
    mean = mean.sort_values(["explained_model", "share"], ascending=[True, False])
    return mean.groupby("explained_model", sort=True).head(top).reset_index(drop=True)


def explanation_chart(explanations: pd.DataFrame, top: int = 12):
    """One horizontal bar chart per explained model: what drove its forecast."""
    summary = explanation_summary(explanations, top)
    models = list(dict.fromkeys(summary["explained_model"]))
    if not models:
        raise ValueError("explanation_chart needs explanation rows; the frame is empty.")
    fig, axes = plt.subplots(1, len(models), figsize=(4.5 * len(models), 3.2), squeeze=False)
    for ax, model in zip(axes.flat, models, strict=True):
        part = summary[summary["explained_model"] == model].iloc[::-1]
        ax.barh(part["component"], part["share"], color=BAND_COLOR)
        what = {"lightgbm": "share of gain", "tft": "share of variable selection"}.get(
            model, "share of mean |component|"
        )
        ax.set_title(f"{model}: {what}", fontsize=9)
        ax.tick_params(labelsize=7)
    fig.tight_layout()
    return fig
