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
    out = out.sort_values(["series_id", "ts"], kind="stable").reset_index(drop=True)

    duplicated = out.duplicated(["series_id", "ts"], keep=False)
    if duplicated.any():
        raise InvalidInputError(
            "Duplicate (series_id, ts) rows in series "
            f"{_examples(out.loc[duplicated, 'series_id'])}; "
            "the dbt staging model dedupes them: train from marts.fct_training_features."
        )
    _check_grid(out, freq)
    _check_values(out)
    for column in feature_columns:
        # Rolling windows and lags start null; the first full value stands in for them.
        out[column] = out.groupby("series_id")[column].bfill().astype("float64")
        if out[column].isna().any():
            raise InvalidInputError(
                f"Feature column {column!r} is entirely null for series "
                f"{_examples(out.loc[out[column].isna(), 'series_id'])}: "
                "those series are shorter than its window; drop the feature or the series."
            )
    return out


def _check_grid(frame: pd.DataFrame, freq: str) -> None:
    offset = pd.tseries.frequencies.to_offset(freq)
    expected_next = frame["ts"] + offset
    same_series = frame["series_id"].eq(frame["series_id"].shift(-1))
    off_grid = same_series & frame["ts"].shift(-1).ne(expected_next)
    if off_grid.any():
        raise InvalidInputError(
            f"Series {_examples(frame.loc[off_grid, 'series_id'])} are not on a regular {freq!r} "
            "grid (gaps or timestamps off the grain). Train from marts.fct_training_features, "
            "which puts every series on the grid, and make its dbt var `grain` match this freq."
        )


def _check_values(frame: pd.DataFrame) -> None:
    values = frame["value"].to_numpy()
    if np.isinf(values).any():
        bad = frame.loc[np.isinf(values), "series_id"]
        raise InvalidInputError(f"Infinite values in series {_examples(bad)}.")
    is_null = frame["value"].isna()
    leading = is_null & ~frame.assign(seen=~is_null).groupby("series_id")["seen"].cummax()
    inner = is_null & ~leading
    if inner.any():
        raise InvalidInputError(
            f"Null values inside series {_examples(frame.loc[inner, 'series_id'])}. The model "
            "needs a complete history: set the dbt var `fill_strategy` to `forward_fill` or "
            "`zero` (it is `null` now), or fix the source."
        )


def drop_leading_nulls(frame: pd.DataFrame) -> pd.DataFrame:
    return frame[frame["value"].notna()].reset_index(drop=True)
