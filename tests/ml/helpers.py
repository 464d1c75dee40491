"""What the ml tests share: a slice of the demo's monthly retail series, dbt's feature columns
over it, and the no-look-ahead check every backtested family must pass."""

from __future__ import annotations

from collections.abc import Callable

import numpy as np
import pandas as pd

from benchmarks.pandas_features import add_features
from ml.backtest import BacktestConfig, Candidate, run_backtest
from ml.config import ForecastSpec
from ml.datasets import load_aus_retail

QUANTILES = ["p10", "p50", "p90"]


def retail(n_series: int, months: int) -> pd.DataFrame:
    """The first `n_series` aus_retail series (by id), each its last `months` months."""
    frame = load_aus_retail()
    keep = sorted(frame["series_id"].unique())[:n_series]
    return frame[frame["series_id"].isin(keep)].groupby("series_id").tail(months)


def features(frame: pd.DataFrame, season_length: int = 12) -> pd.DataFrame:
    """What dbt's fct_training_features computes (its pandas twin, checked by the parity test)."""
    return add_features(frame[["series_id", "ts", "value"]], 3, season_length)


def assert_no_look_ahead(
    raw: pd.DataFrame,
    to_features: Callable[[pd.DataFrame], pd.DataFrame],
    spec: ForecastSpec,
    candidates: list[Candidate],
    config: BacktestConfig,
) -> None:
    """Every value after the first cutoff multiplied by 1000 and the features rebuilt from the
    poisoned values, as dbt would: the first cutoff's forecasts are unchanged, later ones not."""
    clean = run_backtest(to_features(raw), spec, candidates, config)
    first = clean.cutoffs[0]
    poisoned = raw.copy()
    poisoned.loc[poisoned["ts"] > first, "value"] *= 1000
    again = run_backtest(to_features(poisoned), spec, candidates, config)
    before = clean.points[clean.points["cutoff"] == first].reset_index(drop=True)
    after = again.points[again.points["cutoff"] == first].reset_index(drop=True)
    pd.testing.assert_frame_equal(before[QUANTILES], after[QUANTILES])
    later = clean.points[clean.points["cutoff"] != first]["p50"].to_numpy()
    assert not np.allclose(later, again.points[again.points["cutoff"] != first]["p50"])
