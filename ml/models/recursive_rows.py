"""Recursive forecasting over the dbt feature rows: one step at a time, each forecast fed back.

The recursive strategy trains on one-step rows (DirectRows with one_step: the target is the
period right after the origin) and forecasts a horizon by moving the origin one period at a
time: the forecast for t + 1 becomes the value of a new row, the new row gets the columns dbt
would have computed for it, and the next step reads them. Where the direct model needs a row per
(origin, step), 48 times the rows for a 48-hour horizon, this one trains on one row per origin:
what a notebook's mlforecast does, on warecast's features.

The new rows' columns follow marts.fct_training_features' definitions (lags; trailing rolling
mean and sample standard deviation over var short_window and season_length periods including
the current one, null until the window is full; calendar with day of week 0 = Sunday).
tests/ml/test_recursive_rows.py checks that rows filled with the actuals get the columns the
pandas twin of the mart (benchmarks/pandas_features.py, itself checked against dbt) computes.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
import pandas as pd

from ml.models.direct_rows import CALENDAR, DBT_COLUMNS, DirectRows, Panel


@dataclass
class Paths:
    """A recursive forecast of n origins over the horizon: arrays (n, horizon)."""

    p50: np.ndarray
    base: np.ndarray
    scale: np.ndarray
    matrices: list[np.ndarray] | None  # each step's design rows, when asked for

    @property
    def origin_scale(self) -> np.ndarray:
        """Each origin's own scale (the first step's): what its band is measured in."""
        return self.scale[:, 0]


def forecast_paths(
    rows: DirectRows,
    panel: Panel,
    origins: np.ndarray,
    predict: Callable[[np.ndarray], np.ndarray],
    keep_matrices: bool = False,
) -> Paths:
    """Forecast `horizon` steps after each origin row of `panel` (which may share a series):
    predict(design rows) -> the model's learned target; the origin's look-back (rows.reach)
    must lie inside its series, as for a direct forecast."""
    spec = rows.spec
    horizon = spec.horizon
    ext, first_new = _extend(panel, origins, rows.reach + 1, horizon, spec.freq)
    n = len(origins)
    p50, base, scale = (np.empty((n, horizon)) for _ in range(3))
    matrices = [] if keep_matrices else None
    ones = np.ones(n, dtype=np.int64)
    for k in range(horizon):
        matrix, base[:, k], scale[:, k] = rows.design(ext, first_new - 1 + k, ones)
        p50[:, k] = rows.value(predict(matrix), base[:, k], scale[:, k])
        _fill_rows(ext, first_new + k, p50[:, k], spec.season_length, spec.short_window)
        if matrices is not None:
            matrices.append(matrix)
    return Paths(p50, base, scale, matrices)


def held_out_forecasts(
    rows: DirectRows, origins: Origins, predict: Callable[[np.ndarray], np.ndarray]
) -> dict[str, np.ndarray]:
    """Held-out origins forecast recursively, flattened as the direct model's held-out rows
    are (p50, scale, actual, step, origin_ts, target_ts, series_id), where an actual exists.
    scale: each origin's own, as the band is measured in."""
    horizon = rows.spec.horizon
    paths = forecast_paths(rows, origins.panel, origins.rows, predict)
    origin_ts = origins.panel.ts[origins.rows]
    held = {
        "p50": paths.p50,
        "scale": np.repeat(paths.origin_scale[:, None], horizon, axis=1),
        "actual": origins.actual,
        "step": np.broadcast_to(np.arange(1, horizon + 1), paths.p50.shape),
        "origin_ts": np.repeat(origin_ts[:, None], horizon, axis=1),
        "target_ts": future_ts(origin_ts, horizon, rows.spec.freq),
        "series_id": np.repeat(origins.panel.ids[:, None], horizon, axis=1),
    }
    known = np.isfinite(origins.actual)
    return {key: value[known] for key, value in held.items()}


def future_ts(origin_ts: np.ndarray, horizon: int, freq: str) -> np.ndarray:
    """(n, horizon): the periods 1..horizon after each origin on the grid `freq`."""
    offset = pd.tseries.frequencies.to_offset(freq)
    steps = [(pd.DatetimeIndex(origin_ts) + k * offset).to_numpy() for k in range(1, horizon + 1)]
    return np.stack(steps, axis=1)


def fill_with_actuals(panel: Panel, origins: np.ndarray, actuals: np.ndarray, rows: DirectRows):
    """The panel the recursion would build if every forecast were exact: for tests, the new
    rows' columns must then be dbt's."""
    ext, first_new = _extend(panel, origins, rows.reach + 1, rows.spec.horizon, rows.spec.freq)
    for k in range(rows.spec.horizon):
        _fill_rows(
            ext, first_new + k, actuals[:, k], rows.spec.season_length, rows.spec.short_window
        )
    return ext, first_new


def _extend(
    panel: Panel, origins: np.ndarray, keep: int, horizon: int, freq: str
) -> tuple[Panel, np.ndarray]:
    """A panel of one series per origin: its last `keep` rows up to the origin (fewer where its
    series starts later) and `horizon` empty rows after, calendar filled; and the index of each
    one's first empty row."""
    first = np.maximum(panel.start[panel.series[origins]], origins - keep + 1)
    ext, first_new = _slice(panel, origins, first, origins - first + 1, horizon)
    step = np.arange(len(ext.ts)) - np.repeat(first_new - 1, ext.end - ext.start)
    is_new = step >= 1
    future = future_ts(panel.ts[origins], horizon, freq)
    ext.ts[is_new] = future[ext.series[is_new], step[is_new] - 1]
    _fill_calendar(ext.columns, ext.ts, is_new)
    return ext, first_new


def _slice(
    panel: Panel, origins: np.ndarray, first: np.ndarray, kept: np.ndarray, empty: int = 0
) -> tuple[Panel, np.ndarray]:
    """A panel of one series per origin: rows first..first + kept - 1 of `panel` and `empty`
    null rows after them; and the index of each one's first row after the kept ones."""
    sizes = kept + empty
    start = np.cumsum(sizes) - sizes
    position = np.arange(int(sizes.sum()))
    after_kept = np.repeat(start + kept, sizes)
    is_new = position >= after_kept
    source = np.where(is_new, 0, np.repeat(first - start, sizes) + position)
    columns = {}
    for name in DBT_COLUMNS:
        values = panel.columns[name][source]
        values[is_new] = np.nan
        columns[name] = values
    series = np.repeat(np.arange(len(origins)), sizes)
    ids = panel.ids[panel.series[origins]]
    return Panel(ids, start, start + sizes, panel.ts[source], columns, series), start + kept


def _fill_calendar(columns: dict[str, np.ndarray], ts: np.ndarray, rows: np.ndarray) -> None:
    """The calendar columns of fct_training_features (day of week 0 = Sunday)."""
    when = pd.DatetimeIndex(ts[rows])
    parts = {
        "cal_quarter": when.quarter,
        "cal_month": when.month,
        "cal_day_of_week": (when.dayofweek + 1) % 7,
        "cal_hour": when.hour,
    }
    for name in CALENDAR:
        columns[name][rows] = np.asarray(parts[name], dtype="float64")


def _fill_rows(ext: Panel, rows: np.ndarray, values: np.ndarray, season: int, short: int) -> None:
    """Give rows (one per series, each right after rows already filled) their value and the
    lag and rolling columns dbt computes from it."""
    cols = ext.columns
    value = cols["value"]
    value[rows] = values
    first = ext.start[ext.series[rows]]
    cols["lag_1"][rows] = _back(value, rows, 1, first)
    cols["lag_season"][rows] = _back(value, rows, season, first)
    for name, window in (("short", short), ("season", season)):
        full = rows - window + 1 >= first
        window_rows = rows[full, None] + np.arange(1 - window, 1)
        mean, std = np.full(len(rows), np.nan), np.full(len(rows), np.nan)
        if full.any():
            window_values = value[window_rows]
            mean[full] = window_values.mean(axis=1)
            if window > 1:
                std[full] = window_values.std(axis=1, ddof=1)
        cols[f"rolling_mean_{name}"][rows] = mean
        cols[f"rolling_std_{name}"][rows] = std


def _back(value: np.ndarray, rows: np.ndarray, lag: int, first: np.ndarray) -> np.ndarray:
    """value `lag` rows back, null before the series' first row."""
    out = np.full(len(rows), np.nan)
    reached = rows - lag >= first
    out[reached] = value[rows[reached] - lag]
    return out


@dataclass
class Origins:
    """Origins to forecast recursively and score: each one's look-back and the actuals after it,
    cut from a batch of series so the batch itself need not be kept."""

    panel: Panel
    rows: np.ndarray  # the origins' rows in `panel`
    actual: np.ndarray  # (n, horizon), null past the series' end

    @classmethod
    def cut(cls, panel: Panel, origins: np.ndarray, keep: int, horizon: int) -> Origins:
        first = np.maximum(panel.start[panel.series[origins]], origins - keep + 1)
        last = np.minimum(panel.end[panel.series[origins]] - 1, origins + horizon)
        cut, _ = _slice(panel, origins, first, last - first + 1)
        new_rows = cut.start + origins - first
        after = new_rows[:, None] + np.arange(1, horizon + 1)
        inside = after < cut.end[:, None]
        actual = np.full(after.shape, np.nan)
        actual[inside] = cut.columns["value"][after[inside]]
        return cls(cut, new_rows, actual)

    @classmethod
    def concat(cls, parts: list[Origins]) -> Origins:
        offsets = np.cumsum([0, *(len(p.panel.ts) for p in parts[:-1])])
        counts = np.cumsum([0, *(len(p.rows) for p in parts[:-1])])
        panel = Panel(
            np.concatenate([p.panel.ids for p in parts]),
            np.concatenate([p.panel.start + o for p, o in zip(parts, offsets, strict=True)]),
            np.concatenate([p.panel.end + o for p, o in zip(parts, offsets, strict=True)]),
            np.concatenate([p.panel.ts for p in parts]),
            {c: np.concatenate([p.panel.columns[c] for p in parts]) for c in DBT_COLUMNS},
            np.concatenate([p.panel.series + c for p, c in zip(parts, counts, strict=True)]),
        )
        rows = np.concatenate([p.rows + o for p, o in zip(parts, offsets, strict=True)])
        return cls(panel, rows, np.concatenate([p.actual for p in parts]))
