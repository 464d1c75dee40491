"""The input contract every model shares: a long frame on a regular grid, validated up front."""

from __future__ import annotations

import numpy as np
import pandas as pd

from ml.errors import InvalidInputError

REQUIRED = ("series_id", "ts", "value")


def _examples(series: pd.Series | pd.Index, limit: int = 5) -> str:
    values = list(dict.fromkeys(series.tolist()))
    more = f" (+{len(values) - limit} more)" if len(values) > limit else ""
    return ", ".join(repr(v) for v in values[:limit]) + more


def validate_training_frame(
    frame: pd.DataFrame, freq: str, feature_columns: list[str] = ()
) -> pd.DataFrame:
    """Checked, sorted copy: (series_id, ts) unique, each series on the `freq` grid, no gaps."""
    missing = [c for c in (*REQUIRED, *feature_columns) if c not in frame.columns]
    if missing:
        raise InvalidInputError(
            f"Input frame lacks column(s) {missing}; it has {list(frame.columns)}."
        )
    if frame.empty:
        raise InvalidInputError("Input frame is empty: there is nothing to train on.")
    out = frame.copy()
    out["series_id"] = out["series_id"].astype(str)
    out["ts"] = pd.to_datetime(out["ts"])
    if getattr(out["ts"].dt, "tz", None) is not None:
        raise InvalidInputError("Column ts must be naive UTC timestamps, not time-zone aware.")
    out["value"] = pd.to_numeric(out["value"], errors="raise").astype("float64")
    # One factorisation of the ids serves the sort and every per-series check below: a batch
    # of the feature table holds millions of rows, and each pandas string op factorises again.
    codes, _ = pd.factorize(out["series_id"], sort=True)
    ts = out["ts"].to_numpy()
    order = np.lexsort((ts, codes))
    if (order != np.arange(len(order))).any():
        out, codes, ts = out.take(order), codes[order], ts[order]
    out = out.reset_index(drop=True)

    same_series = codes[1:] == codes[:-1]
    pairs = np.flatnonzero(same_series & (ts[1:] == ts[:-1]))
    if len(pairs):
        rows = np.union1d(pairs, pairs + 1)
        raise InvalidInputError(
            "Duplicate (series_id, ts) rows in series "
            f"{_examples(out['series_id'].iloc[rows])}; "
            "the dbt staging model dedupes them: train from marts.fct_training_features."
        )
    _check_grid(out, freq, same_series)
    _check_values(out, codes)
    for column in feature_columns:
        # Rolling windows and lags start null; the first full value stands in for them.
        out[column] = out[column].groupby(codes).bfill().astype("float64")
        if out[column].isna().any():
            raise InvalidInputError(
                f"Feature column {column!r} is entirely null for series "
                f"{_examples(out.loc[out[column].isna(), 'series_id'])}: "
                "those series are shorter than its window; drop the feature or the series."
            )
    return out


def _check_grid(frame: pd.DataFrame, freq: str, same_series: np.ndarray) -> None:
    """same_series[i]: rows i and i + 1 belong to one series (the frame is sorted)."""
    offset = pd.tseries.frequencies.to_offset(freq)
    expected_next = frame["ts"] + offset
    off_grid = np.append(same_series, False) & frame["ts"].shift(-1).ne(expected_next).to_numpy()
    if off_grid.any():
        raise InvalidInputError(
            f"Series {_examples(frame.loc[off_grid, 'series_id'])} are not on a regular {freq!r} "
            "grid (gaps or timestamps off the grain). Train from marts.fct_training_features, "
            "which puts every series on the grid, and make its dbt var `grain` match this freq."
        )


def _check_values(frame: pd.DataFrame, codes: np.ndarray) -> None:
    values = frame["value"].to_numpy()
    if np.isinf(values).any():
        bad = frame.loc[np.isinf(values), "series_id"]
        raise InvalidInputError(f"Infinite values in series {_examples(bad)}.")
    is_null = frame["value"].isna()
    leading = is_null & ~(~is_null).groupby(codes).cummax()
    inner = is_null & ~leading
    if inner.any():
        raise InvalidInputError(
            f"Null values inside series {_examples(frame.loc[inner, 'series_id'])}. The model "
            "needs a complete history: set the dbt var `fill_strategy` to `forward_fill` or "
            "`zero` (it is `null` now), or fix the source."
        )


def drop_leading_nulls(frame: pd.DataFrame) -> pd.DataFrame:
    return frame[frame["value"].notna()].reset_index(drop=True)
