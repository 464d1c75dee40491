"""An ensemble in a backtest combines the fits of its members that are candidates too, instead
of fitting them again, and its forecasts are exactly those it makes fitting them itself."""

from __future__ import annotations

import lightgbm
import pandas as pd
import pytest

from ml.backtest import BacktestConfig, MemberReuse, ModelChoice, candidates_for, run_backtest
from ml.batched import run_backtest_batched
from ml.config import ForecastSpec
from tests.ml import helpers

SPEC = ForecastSpec(horizon=6, freq="MS", season_length=12)
CONFIG = BacktestConfig(cutoffs=2, step=6, max_history_statistical=48)
MEMBERS = [
    {"name": "seasonal_naive", "preset": "tiny"},
    {"name": "auto_theta", "preset": "tiny"},
    {"name": "lightgbm", "preset": "tiny", "overrides": {"train_history": 60}},
]
KEYS = ["cutoff", "series_id", "target_ts"]


def _candidates(*names: str, members=MEMBERS):
    singles = [ModelChoice(**m) for m in members if m["name"] in names]
    ensemble = ModelChoice(name="ensemble", preset="tiny", overrides={"members": members})
    return candidates_for([*singles, ensemble], CONFIG.max_history_statistical)


def _ensemble_points(result) -> pd.DataFrame:
    points = result.points[result.points["model"] == "ensemble"]
    return points.sort_values(KEYS, ignore_index=True)


@pytest.fixture(scope="module")
def features() -> pd.DataFrame:
    return helpers.features(helpers.retail(6, 96))


@pytest.fixture(scope="module")
def alone(features):
    """The ensemble with no candidate to reuse: it fits every member itself."""
    candidates = _candidates()
    assert not MemberReuse.plan(candidates).wanted
    return _ensemble_points(run_backtest(features, SPEC, candidates, CONFIG))


@pytest.fixture
def lightgbm_trainings(monkeypatch) -> list[int]:
    """Counts lightgbm.train calls (each still trains)."""
    calls, train = [], lightgbm.train

    def counted(*args, **kwargs):
        calls.append(1)
        return train(*args, **kwargs)

    monkeypatch.setattr(lightgbm, "train", counted)
    return calls


def test_members_that_are_candidates_are_reused_and_the_forecasts_are_the_same(
    features, alone, lightgbm_trainings
):
    candidates = _candidates("seasonal_naive", "auto_theta", "lightgbm")
    plan = MemberReuse.plan(candidates)
    assert sorted(plan.wanted) == ["auto_theta", "lightgbm", "seasonal_naive"]
    result = run_backtest(features, SPEC, candidates, CONFIG)
    pd.testing.assert_frame_equal(_ensemble_points(result), alone, check_exact=True)
    # lightgbm trains twice per cutoff (held-out calibration, then refit): as a candidate only.
    assert len(lightgbm_trainings) == 2 * CONFIG.cutoffs


def test_one_batch_gives_the_same_ensemble_as_the_whole_table(features, alone):
    candidates = _candidates("seasonal_naive", "auto_theta", "lightgbm")
    result = run_backtest_batched(
        lambda: [features], SPEC, candidates, CONFIG, features["ts"].max(), 6
    )
    pd.testing.assert_frame_equal(_ensemble_points(result), alone, check_exact=True)


def test_over_batches_the_ensemble_is_the_median_of_the_candidates_it_lists(features):
    ids = sorted(features["series_id"].unique())

    def batches():
        for group in (ids[:3], ids[3:]):
            yield features[features["series_id"].isin(group)]

    candidates = _candidates("seasonal_naive", "auto_theta", "lightgbm")
    result = run_backtest_batched(batches, SPEC, candidates, CONFIG, features["ts"].max(), 6)
    points = result.points.set_index([*KEYS, "model"])["p50"].unstack("model")
    singles = points[["seasonal_naive", "auto_theta", "lightgbm"]].median(axis=1)
    pd.testing.assert_series_equal(points["ensemble"], singles, check_names=False)


def test_only_identical_entries_of_families_whose_fit_ignores_validation_are_reused():
    members = [
        {"name": "auto_theta", "preset": "tiny"},
        {"name": "lightgbm", "preset": "tiny", "overrides": {"train_history": 60}},
        {"name": "mlp", "preset": "tiny"},
    ]
    singles = [
        ModelChoice(name="auto_theta", preset="tiny"),
        ModelChoice(name="lightgbm", preset="tiny"),  # other overrides: another model
        ModelChoice(name="mlp", preset="tiny"),  # trains without its last horizon when validating
    ]
    ensemble = ModelChoice(name="ensemble", preset="tiny", overrides={"members": members})
    plan = MemberReuse.plan(candidates_for([*singles, ensemble], 48))
    assert plan.wanted == {"auto_theta": [("ensemble", 0)]}
    assert plan.validates(candidates_for(singles[:1], 48)[0])


def test_members_see_the_newest_periods_of_a_frame_in_any_row_order(features):
    """A bounded member's last max_history periods are by time, not by row order (training
    reads the table in batches, in no particular order)."""
    from ml.models import create_forecaster

    members = [
        {"name": "auto_theta", "preset": "tiny"},
        {"name": "seasonal_naive", "preset": "tiny"},
    ]
    forecasts = []
    for frame in (features, features.sample(frac=1.0, random_state=0)):
        model = create_forecaster("ensemble", "tiny", members=members, max_history_statistical=30)
        model.fit(frame, SPEC)
        forecasts.append(model.predict(frame))
    pd.testing.assert_frame_equal(*forecasts, check_exact=True)
