"""The shared input contract: bad frames fail with messages that name the series and the fix."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from ml.errors import InvalidInputError
from ml.frames import validate_training_frame


def _frame(n: int = 6, series=("a", "b")) -> pd.DataFrame:
    ts = pd.date_range("2020-01-01", periods=n, freq="MS")
    return pd.concat(
        [
            pd.DataFrame({"series_id": s, "ts": ts, "value": np.arange(n, dtype=float)})
            for s in series
        ]
    )


def test_valid_frame_is_sorted_copy():
    frame = _frame().sample(frac=1, random_state=0)
    out = validate_training_frame(frame, "MS")
    assert out["series_id"].tolist() == ["a"] * 6 + ["b"] * 6
    assert out.groupby("series_id")["ts"].is_monotonic_increasing.all()


def test_duplicates_name_series():
    frame = pd.concat([_frame(), _frame(series=("b",)).head(1)])
    with pytest.raises(InvalidInputError, match=r"Duplicate .* 'b'"):
        validate_training_frame(frame, "MS")


def test_gap_names_series_and_grain():
    frame = _frame()
    frame = frame[~((frame.series_id == "b") & (frame.ts == "2020-03-01"))]
    with pytest.raises(InvalidInputError, match=r"Series 'b' are not on a regular 'MS' grid"):
        validate_training_frame(frame, "MS")


def test_off_grain_timestamp_is_rejected():
    frame = _frame(series=("a",))
    frame.loc[3, "ts"] = pd.Timestamp("2020-04-15")
    with pytest.raises(InvalidInputError, match="regular"):
        validate_training_frame(frame, "MS")


def test_inner_null_points_to_fill_strategy():
    frame = _frame(series=("a",))
    frame.loc[3, "value"] = np.nan
    with pytest.raises(InvalidInputError, match="fill_strategy"):
        validate_training_frame(frame, "MS")


def test_leading_nulls_are_allowed():
    frame = _frame(series=("a",))
    frame.loc[0, "value"] = np.nan
    assert len(validate_training_frame(frame, "MS")) == 6


def test_infinite_values_are_rejected():
    frame = _frame(series=("a",))
    frame.loc[2, "value"] = np.inf
    with pytest.raises(InvalidInputError, match="Infinite values in series 'a'"):
        validate_training_frame(frame, "MS")


def test_missing_column_and_empty_frame():
    with pytest.raises(InvalidInputError, match="lacks column"):
        validate_training_frame(_frame().drop(columns="value"), "MS")
    with pytest.raises(InvalidInputError, match="empty"):
        validate_training_frame(_frame().head(0), "MS")


def test_feature_leading_nulls_are_backfilled():
    frame = _frame(series=("a",))
    frame["rolling"] = [np.nan, np.nan, 1.0, 2.0, 3.0, 4.0]
    out = validate_training_frame(frame, "MS", ["rolling"])
    assert out["rolling"].tolist() == [1.0, 1.0, 1.0, 2.0, 3.0, 4.0]
