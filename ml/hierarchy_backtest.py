"""Forecasts for every node of a hierarchy, reconciled, and their backtest per level (pure).

frame: series_id, ts, value for every node (marts.fct_hierarchy_series); dim: the tree
(marts.dim_hierarchy). One base model is fitted on every node; its held-out errors on each
series' last horizon (the model's own validation) feed MinT's covariance, or, for statsforecast
families, their one-step in-sample errors (the covariance MinT is defined on; on the demo they
made MinT better than the base forecasts on every level with AutoETS, the held-out horizon
worse: docs/evaluation.md).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

import numpy as np
import pandas as pd

from ml.backtest import BacktestConfig, cutoff_dates
from ml.config import ForecastSpec
from ml.evaluation import score_points, summarize_scores
from ml.frames import drop_leading_nulls, validate_training_frame
from ml.hierarchy import METHODS, coherence_gap, reconcile, summing_matrix
from ml.models.base import Forecaster

BASE = "base"  # the unreconciled forecasts, labelled like a method
FORECAST_COLUMNS = ["series_id", "forecast_origin", "target_ts", "horizon_step"]
COHERENCE_TOLERANCE = 1e-6  # relative to the largest |p50|


def hierarchical_forecasts(
    frame: pd.DataFrame,
    dim: pd.DataFrame,
    spec: ForecastSpec,
    build: Callable[[], Forecaster],
    methods: Sequence[str] = METHODS,
) -> pd.DataFrame:
    """Base forecasts of every node (method 'base') and each reconciliation of them."""
    S = summing_matrix(dim)
    history = _nodes_history(frame, S, spec.freq)
    model = build()
    needs_residuals = "mint_shrink" in methods
    insample = in_sample_residuals(model, history, spec) if needs_residuals else None
    report = model.fit(history, spec, validate=needs_residuals and insample is None)
    base = model.predict(history)[[*FORECAST_COLUMNS, "p10", "p50", "p90"]]
    residuals = None
    if needs_residuals:
        residuals = insample if insample is not None else _residuals(report.validation_forecasts)
    parts = [base.assign(method=BASE)]
    for method in methods:
        reconciled = reconcile(base, S, method, residuals)
        check_coherent(reconciled, dim, method)
        parts.append(reconciled)
    out = pd.concat(parts, ignore_index=True)
    return out.merge(dim[["series_id", "level"]], on="series_id", how="left")


def check_coherent(forecasts: pd.DataFrame, dim: pd.DataFrame, method: str) -> None:
    scale = max(1.0, float(forecasts["p50"].abs().max()))
    gap = coherence_gap(forecasts, dim)
    if gap > COHERENCE_TOLERANCE * scale:
        raise RuntimeError(f"{method} forecasts do not add up: largest gap {gap:.3g}.")
    ordered = (forecasts["p10"] <= forecasts["p50"]) & (forecasts["p50"] <= forecasts["p90"])
    if not ordered.all():
        raise RuntimeError(f"{method} forecasts have misordered quantiles.")


def _nodes_history(frame: pd.DataFrame, S: pd.DataFrame, freq: str) -> pd.DataFrame:
    history = frame[frame["series_id"].isin(S.index)][["series_id", "ts", "value"]]
    return drop_leading_nulls(validate_training_frame(history, freq))


def in_sample_residuals(model, history: pd.DataFrame, spec: ForecastSpec):
    """One-step in-sample errors of a statsforecast model (what MinT's covariance is defined
    on); None for other families, whose held-out last horizon is used instead."""
    if not model.fits_each_series:
        return None
    from statsforecast import StatsForecast

    if model.config.max_history:
        history = history.groupby("series_id", sort=False).tail(model.config.max_history)
    if (history.groupby("series_id")["ts"].size() < model.min_length(spec)).any():
        return None  # a node too short for the model (its fallback has no fitted values)
    data = history.rename(columns={"series_id": "unique_id", "ts": "ds", "value": "y"})
    statsmodel = model._model(spec)
    engine = StatsForecast(models=[statsmodel], freq=spec.freq, n_jobs=model.config.n_jobs)
    engine.forecast(h=1, df=data[["unique_id", "ds", "y"]], fitted=True)
    fitted = engine.forecast_fitted_values()
    alias = str(statsmodel)
    return pd.DataFrame(
        {
            "series_id": fitted["unique_id"].astype(str),
            "target_ts": fitted["ds"],
            "residual": (fitted["y"] - fitted[alias]).to_numpy(float),
        }
    )


def _residuals(validation: pd.DataFrame) -> pd.DataFrame:
    out = validation[["series_id", "target_ts"]].copy()
    out["residual"] = validation["actual"].to_numpy(float) - validation["p50"].to_numpy(float)
    return out


def hierarchical_backtest(
    frame: pd.DataFrame,
    dim: pd.DataFrame,
    spec: ForecastSpec,
    build: Callable[[], Forecaster],
    config: BacktestConfig,
) -> pd.DataFrame:
    """Points (cutoff, series_id, level, method, target_ts, horizon_step, actual, p10, p50, p90,
    scale): every node forecast at each cutoff from rows ts <= cutoff, base and reconciled."""
    clean = frame[["series_id", "ts", "value"]].copy()
    clean["ts"] = pd.to_datetime(clean["ts"])
    parts = []
    for cutoff in cutoff_dates(clean["ts"].max(), spec, config):
        past = clean[clean["ts"] <= cutoff]
        offset = pd.tseries.frequencies.to_offset(spec.freq)
        future = clean[(clean["ts"] > cutoff) & (clean["ts"] <= cutoff + spec.horizon * offset)]
        points = hierarchical_forecasts(past, dim, spec, build)
        actuals = future.rename(columns={"ts": "target_ts", "value": "actual"})
        points = points.merge(actuals, on=["series_id", "target_ts"], how="inner")
        points["scale"] = points["series_id"].map(seasonal_naive_scales(past, spec.season_length))
        parts.append(points.assign(cutoff=cutoff))
    return pd.concat(parts, ignore_index=True)


def seasonal_naive_scales(history: pd.DataFrame, season_length: int) -> pd.Series:
    """In-sample MAE of the seasonal naive forecast per series (lag 1 if not longer than a
    season), the MASE denominator the model backtest uses."""
    ordered = history.sort_values(["series_id", "ts"])
    grouped = ordered.groupby("series_id")["value"]
    lag = np.where(grouped.transform("size") > season_length, season_length, 1)
    seasonal = (ordered["value"] - grouped.shift(season_length)).abs()
    first = (ordered["value"] - grouped.shift(1)).abs()
    diffs = pd.Series(np.where(lag == 1, first, seasonal), index=ordered.index)
    return diffs.groupby(ordered["series_id"]).mean()


def level_accuracy(points: pd.DataFrame, dim: pd.DataFrame) -> pd.DataFrame:
    """One row per (level, method): MASE and the other metrics over all cutoffs and nodes,
    plus mase_vs_base (below 1: reconciliation helped that level)."""
    scores = score_points(points)
    depth = dim.set_index("level")["level_depth"].groupby(level=0).first()
    rows = []
    for (level, method), index in points.groupby(["level", "method"]).groups.items():
        rows.append(
            {
                "level": level,
                "level_depth": int(depth.get(level, -1)),
                "method": method,
                "n_series": int(points.loc[index, "series_id"].nunique()),
                "n_cutoffs": int(points.loc[index, "cutoff"].nunique()),
                "n_points": len(index),
                **summarize_scores(scores.loc[index]),
            }
        )
    board = pd.DataFrame(rows).sort_values(["level_depth", "method"], ignore_index=True)
    base = board[board["method"] == BASE].set_index("level")["mase"]
    board["mase_vs_base"] = board["mase"] / board["level"].map(base)
    return board
