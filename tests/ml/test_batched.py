"""Backtests and training over batches of series: same points as the whole table, bounded rows."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from ml.backtest import BacktestConfig, Candidate, run_backtest
from ml.batched import (
    BATCHED,
    LOCAL,
    WHOLE,
    history_needed,
    kind_of,
    predict_batched,
    run_backtest_batched,
)
from ml.config import ForecastSpec
from ml.models import create_forecaster
from ml.models.direct_rows import DirectRows, Panel
from tests.ml import helpers

SPEC = ForecastSpec(horizon=6, freq="MS", season_length=12)
CONFIG = BacktestConfig(cutoffs=2, step=6)


@pytest.fixture(scope="module")
def features() -> pd.DataFrame:
    return helpers.features(helpers.retail(8, 96))


def _batches(frame: pd.DataFrame, size: int):
    ids = sorted(frame["series_id"].unique())
    groups = [ids[i : i + size] for i in range(0, len(ids), size)]
    calls = []

    def batches():
        calls.append(1)
        for group in groups:
            yield frame[frame["series_id"].isin(group)]

    return batches, calls


def _candidate(name: str, **overrides) -> Candidate:
    return Candidate(name, "tiny", lambda: create_forecaster(name, "tiny", **overrides))


def test_models_are_sorted_by_how_they_go_through_batches():
    assert kind_of(create_forecaster("seasonal_naive", "tiny")) == LOCAL
    assert kind_of(create_forecaster("auto_theta", "tiny")) == LOCAL
    assert kind_of(create_forecaster("lightgbm", "tiny")) == BATCHED
    assert kind_of(create_forecaster("mlp", "tiny")) == WHOLE


def test_local_models_score_the_same_points_batch_by_batch(features):
    chosen = [_candidate("seasonal_naive"), _candidate("auto_theta")]
    whole = run_backtest(features, SPEC, chosen, CONFIG)
    batches, calls = _batches(features, 3)
    batched = run_backtest_batched(
        batches, SPEC, chosen, CONFIG, features["ts"].max(), features["series_id"].nunique()
    )
    assert len(calls) == 1  # one read of every batch for all local models and cutoffs
    key = ["model", "cutoff", "series_id", "horizon_step"]
    expected = whole.points.sort_values(key, ignore_index=True)
    got = batched.points.sort_values(key, ignore_index=True)
    pd.testing.assert_frame_equal(got, expected)
    assert batched.cutoffs == whole.cutoffs


def test_one_batch_of_every_series_trains_the_same_lightgbm(features):
    chosen = [_candidate("seasonal_naive"), _candidate("lightgbm")]
    whole = run_backtest(features, SPEC, chosen, CONFIG)
    batches, calls = _batches(features, 100)
    batched = run_backtest_batched(batches, SPEC, chosen, CONFIG, features["ts"].max(), 8)
    assert len(calls) == 1  # one read for every model and cutoff, global ones included
    key = ["model", "cutoff", "series_id", "horizon_step"]
    pd.testing.assert_frame_equal(
        batched.points.sort_values(key, ignore_index=True),
        whole.points.sort_values(key, ignore_index=True),
    )


def test_a_log_scale_guessed_wrong_in_the_one_pass_falls_back_to_reading_again(features):
    # The first batch is positive (log scale guessed), a later one has a zero value.
    last = sorted(features["series_id"].unique())[-1]
    frame = features.copy()
    frame.loc[(frame["series_id"] == last) & (frame.index % 7 == 0), "value"] = 0.0
    batches, calls = _batches(frame, 3)
    chosen = [_candidate("lightgbm")]
    batched = run_backtest_batched(batches, SPEC, chosen, CONFIG, frame["ts"].max(), 8)
    assert len(calls) > 1
    assert batched.points.groupby("cutoff")["series_id"].nunique().eq(8).all()
    assert batched.points[["p10", "p50", "p90"]].notna().all().all()


def test_lightgbm_from_several_batches_samples_its_share_of_each(features):
    model = create_forecaster("lightgbm", "tiny", max_train_rows=600)
    batches, calls = _batches(features, 3)
    newest = features["ts"].max()
    report = model.fit_batches(batches, SPEC, validate=False, n_series=8, newest=newest)
    assert len(calls) == 1 and report.n_series == 8
    # Each batch draws about its share of max_train_rows: whole origins, so a little over.
    assert 0 < report.n_train_samples <= 600 + 3 * SPEC.horizon
    forecasts = pd.concat(list(predict_batched(model, batches)), ignore_index=True)
    assert forecasts.groupby("series_id").size().eq(SPEC.horizon).all()
    assert forecasts["series_id"].nunique() == 8
    assert (forecasts["p10"] <= forecasts["p50"]).all()
    assert (forecasts["p50"] <= forecasts["p90"]).all()


def test_sampled_pairs_are_the_pairs_of_whole_origins_without_expanding_all(features):
    rows = DirectRows(SPEC, max_rows=200, seed=1)
    clean = features.sort_values(["series_id", "ts"], ignore_index=True)
    panel = Panel.build(clean)
    origins = rows.train_origins(panel)
    counts = rows.pair_counts(panel, origins, panel.end)
    o, h, total = rows.sample_pairs(origins, counts, 200)
    # Every step with a target exists, and nothing past a series' end.
    assert total == counts.sum() and total > 200
    assert (o + h < panel.end[panel.series[o]]).all() and (h >= 1).all()
    per_origin = pd.Series(h).groupby(o).agg(["size", "max"])
    assert (per_origin["size"] == per_origin["max"]).all()  # steps 1..k of each drawn origin
    assert 150 <= len(o) <= 250
    again = rows.sample_pairs(origins, counts, 200)
    np.testing.assert_array_equal(again[0], o)  # seeded


@pytest.mark.parametrize("name", ["lightgbm", "seasonal_naive", "auto_theta"])
def test_forecasts_from_the_tail_predict_reads_equal_those_from_the_whole_history(name, features):
    model = create_forecaster(name, "tiny")
    model.fit(features, SPEC, validate=False)
    needed = history_needed(model)
    assert needed is not None and needed < features.groupby("series_id").size().min()
    tail = features.sort_values(["series_id", "ts"]).groupby("series_id").tail(needed)
    pd.testing.assert_frame_equal(model.predict(tail), model.predict(features))
    shorter = features.sort_values(["series_id", "ts"]).groupby("series_id").tail(needed - 1)
    assert not model.predict(shorter).equals(model.predict(features))  # the bound is tight
