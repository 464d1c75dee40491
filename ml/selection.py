"""Champion selection: rank backtested models by one metric and say, in words, why one won.

Errors (MAE, RMSE, MAPE, sMAPE, MASE, pinball) rank lower-is-better; interval coverage ranks by
its distance from the nominal 80 %. A model whose metric is undefined (MAPE with a zero actual)
ranks last and cannot win.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd

from ml.evaluation import SUMMARY_METRICS

COVERAGE_TARGET = 0.8
BASELINE = "seasonal_naive"


@dataclass(frozen=True)
class Selection:
    champion: str
    metric: str
    value: float
    reason: str
    leaderboard: pd.DataFrame  # the summary plus objective, rank (1 = best), is_champion, reason


def objective(values: pd.Series, metric: str) -> pd.Series:
    """What is minimised: the metric itself, or |coverage - 0.8| for coverage."""
    if metric not in SUMMARY_METRICS:
        raise ValueError(f"Unknown metric {metric!r}; choose one of {SUMMARY_METRICS}.")
    values = values.astype("float64")
    return (values - COVERAGE_TARGET).abs() if metric.startswith("coverage") else values


def select_champion(summary: pd.DataFrame, metric: str) -> Selection:
    """summary: one row per model with a `model` column and the metric column."""
    if summary.empty:
        raise ValueError("No backtest results to choose a champion from.")
    board = summary.copy()
    board["objective"] = objective(board[metric], metric)
    # Ties go to the model that forecast more rows itself: one that fell back to seasonal
    # naive everywhere scores as seasonal naive but could not be trained on all data either.
    ties = ["share_fallback"] if "share_fallback" in board else []
    board = board.sort_values(["objective", *ties, "model"], na_position="last", kind="stable")
    if not np.isfinite(board["objective"].iloc[0]):
        raise ValueError(
            f"Metric {metric!r} is undefined for every model (MAPE is, when an actual is zero): "
            "set another `backtest.metric` in orchestration/pipelines.yaml, e.g. mase."
        )
    board["rank"] = np.arange(1, len(board) + 1)
    board["is_champion"] = board["rank"] == 1
    winner = board.iloc[0]
    reason = explain(board, metric)
    board["reason"] = reason
    return Selection(
        champion=str(winner["model"]),
        metric=metric,
        value=float(winner[metric]),
        reason=reason,
        leaderboard=board.reset_index(drop=True),
    )


def explain(board: pd.DataFrame, metric: str) -> str:
    """'auto_ets won on mase 0.910 vs seasonal_naive 1.050, tft 1.120 (3 cutoffs, ...)'."""
    winner, others = board.iloc[0], board.iloc[1:]
    rule = f" (closest to {COVERAGE_TARGET:g})" if metric.startswith("coverage") else ""
    versus = ", ".join(f"{row.model} {_fmt(row[metric])}" for _, row in others.iterrows())
    text = f"{winner['model']} won on {metric}{rule} {_fmt(winner[metric])}"
    text += f" vs {versus}" if versus else " (the only model compared)"
    scope = (
        f" over {int(winner['n_cutoffs'])} cutoffs, {int(winner['n_series'])} series, "
        f"{int(winner['n_points'])} scored points"
        if {"n_cutoffs", "n_series", "n_points"} <= set(board.columns)
        else ""
    )
    baseline = board[board["model"] == BASELINE]
    if metric != "mase" and "mase" in board and not baseline.empty:
        scope += f"; its mase {_fmt(winner['mase'])} vs {BASELINE} {_fmt(baseline['mase'].iloc[0])}"
    return text + scope + "."


def _fmt(value) -> str:
    return "undefined" if value is None or not np.isfinite(value) else f"{value:.3f}"
