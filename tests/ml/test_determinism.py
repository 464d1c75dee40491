"""The same data and models give the same scores, to the last digit: the README quotes a
backtest's numbers (`make readme-output`), and a rerun of the same commit must reproduce them."""

from __future__ import annotations

import pandas as pd

from benchmarks.pandas_features import add_features
from ml.backtest import BacktestConfig, ModelChoice, candidates_for, run_backtest
from ml.datasets import load_aus_retail
from orchestration.settings import load_pipeline


def _tiny(choice: ModelChoice) -> ModelChoice:
    """The same entry on the `tiny` preset (an ensemble's members too): the same code paths,
    seconds instead of minutes."""
    overrides = dict(choice.overrides)
    if "members" in overrides:
        overrides["members"] = [{**m, "preset": "tiny"} for m in overrides["members"]]
    return choice.model_copy(update={"preset": "tiny", "overrides": overrides})


def test_two_backtests_of_the_demo_models_give_identical_scores():
    pipeline = load_pipeline("aus_retail")
    frame = load_aus_retail()
    keep = sorted(frame["series_id"].unique())[:4]
    frame = frame[frame["series_id"].isin(keep)].groupby("series_id").tail(120)
    features = add_features(frame[["series_id", "ts", "value"]], 3, pipeline.season_length)
    config = BacktestConfig(cutoffs=2, step=12)
    bound = pipeline.backtest.max_history_statistical

    def backtest():
        # fresh, unfitted models each time
        candidates = candidates_for([_tiny(c) for c in pipeline.models], bound)
        return run_backtest(features, pipeline.forecast_spec(), candidates, config)

    first, second = backtest(), backtest()
    assert set(first.summary["model"]) == {choice.name for choice in pipeline.models}
    pd.testing.assert_frame_equal(first.points, second.points, check_exact=True)
    scores = [c for c in first.summary.columns if c != "fit_seconds"]
    pd.testing.assert_frame_equal(first.summary[scores], second.summary[scores], check_exact=True)
