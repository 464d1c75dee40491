"""LightGBM's recursive strategy: one-step rows, the horizon forecast a step at a time with each
forecast fed back as the next step's lags (ml/models/recursive_rows.py)."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from benchmarks.pandas_features import FEATURE_COLUMNS, add_features
from ml.backtest import BacktestConfig, Candidate
from ml.config import ForecastSpec
from ml.errors import InvalidInputError
from ml.models import create_forecaster
from ml.models.direct_rows import CALENDAR, DirectRows, Panel
from ml.models.lightgbm import LightGBMForecaster
from ml.models.recursive_rows import fill_with_actuals
from tests.ml import helpers
from tests.ml.test_seasonal_features import _hourly

HOURLY = ForecastSpec(horizon=24, freq="h", season_length=24, extra_seasons=(168,), short_window=6)
MONTHLY = ForecastSpec(horizon=6, freq="MS", season_length=12, short_window=3)


def _features(raw: pd.DataFrame, spec: ForecastSpec) -> pd.DataFrame:
    """What dbt's fct_training_features computes (its pandas twin, checked by the parity test)."""
    frame = raw[["series_id", "ts", "value"]].assign(is_filled=False)
    return add_features(frame, spec.short_window, spec.season_length)


def _recursive(preset: str = "tiny", **overrides) -> LightGBMForecaster:
    return create_forecaster("lightgbm", preset, strategy="recursive", **overrides)


@pytest.mark.parametrize(
    ("spec", "raw"),
    [(HOURLY, _hourly(3, 24 * 7 * 3)), (MONTHLY, helpers.retail(3, 40))],
    ids=["hourly", "monthly"],
)
def test_rows_filled_with_the_actuals_get_the_feature_marts_columns(spec, raw):
    """The columns the recursion computes for the periods it forecasts are dbt's, when the
    forecasts are exact: origins near a series' start (windows not yet full) and later."""
    full = _features(raw, spec)
    panel = Panel.build(full)
    rows = DirectRows(spec)
    horizon = spec.horizon
    origins = np.concatenate([panel.start + spec.season_length, panel.end - horizon - 1])
    actuals = panel.columns["value"][origins[:, None] + np.arange(1, horizon + 1)]
    ext, first_new = fill_with_actuals(panel, origins, actuals, rows)
    new = (first_new[:, None] + np.arange(horizon)).ravel()
    truth = (origins[:, None] + np.arange(1, horizon + 1)).ravel()
    np.testing.assert_array_equal(ext.ts[new], panel.ts[truth])
    for column in ("value", *FEATURE_COLUMNS, *CALENDAR):
        np.testing.assert_allclose(
            ext.columns[column][new], panel.columns[column][truth], rtol=1e-9, err_msg=column
        )


def test_each_step_is_the_one_step_forecast_after_the_steps_before_it():
    """Step k's forecast is what the model forecasts one step ahead once the first k - 1
    forecasts are appended as observations and the features rebuilt as dbt would."""
    raw = _hourly(3, 24 * 7 * 4)
    model = _recursive()
    model.fit(_features(raw, HOURLY), HOURLY, validate=False)
    whole = model.predict(_features(raw, HOURLY))
    grown = raw[["series_id", "ts", "value"]]
    for step in range(1, 5):
        one = model.predict(_features(grown, HOURLY))
        first = one[one["horizon_step"] == 1].set_index("series_id")["p50"]
        expected = whole[whole["horizon_step"] == step].set_index("series_id")["p50"]
        np.testing.assert_allclose(first.to_numpy(), expected.loc[first.index], rtol=1e-9)
        appended = one[one["horizon_step"] == 1].rename(columns={"target_ts": "ts", "p50": "value"})
        grown = pd.concat([grown, appended[["series_id", "ts", "value"]]], ignore_index=True)


def test_rewriting_everything_after_a_cutoff_leaves_its_forecasts_unchanged():
    candidate = [Candidate("lightgbm", "tiny", _recursive)]
    config = BacktestConfig(cutoffs=2, step=24)
    helpers.assert_no_look_ahead(
        _hourly(), lambda raw: _features(raw, HOURLY), HOURLY, candidate, config
    )


def test_it_trains_on_one_step_rows_calibrates_its_band_and_round_trips(tmp_path):
    features = _features(_hourly(4, 24 * 7 * 5), HOURLY)
    direct, recursive = create_forecaster("lightgbm", "tiny"), _recursive()
    reports = [m.fit(features, HOURLY, validate=True) for m in (direct, recursive)]
    # A horizon's times fewer rows: origins x 1 against origins x 24.
    assert reports[1].n_train_samples * 10 < reports[0].n_train_samples
    # The band: the newest held-out origin forecast recursively, every series' 24 steps.
    assert recursive.band.n_residuals == 4 * HOURLY.horizon
    forecast = recursive.predict(features)
    assert (forecast["p10"] <= forecast["p50"]).all() and (forecast["p50"] <= forecast["p90"]).all()
    recursive.save(tmp_path / "model")
    again = LightGBMForecaster.load(tmp_path / "model")
    assert again.config.strategy == "recursive"
    pd.testing.assert_frame_equal(again.predict(features), forecast)


def test_contributions_are_each_steps_own_rows_and_sum_to_the_forecast():
    features = _features(helpers.retail(4, 96), MONTHLY)
    model = _recursive()
    model.fit(features, MONTHLY, validate=False)
    wide = model.contributions(features)
    learned = wide[[*model.feature_names(), "bias"]].sum(axis=1).to_numpy()
    rows = DirectRows(MONTHLY, log_scale=model.log_target)
    p50 = rows.value(learned, wide["base"].to_numpy(), wide["scale"].to_numpy())
    forecast = model.predict(features)
    np.testing.assert_allclose(p50, forecast["p50"].to_numpy(), rtol=1e-6)
    # Each step's row has its own origin: its base is the anchor one season before its target.
    assert wide.groupby("series_id")["base"].nunique().min() > 1


def test_a_spec_without_the_short_window_is_refused_with_what_to_set():
    features = _features(helpers.retail(2, 60), MONTHLY)
    model = _recursive()
    with pytest.raises(InvalidInputError, match="short_window"):
        model.fit(features, MONTHLY.model_copy(update={"short_window": None}), validate=True)


@pytest.mark.parametrize("strategy", ["direct", "recursive"])
def test_training_on_the_declared_tail_fits_the_same_model(strategy):
    """fit_history(): the ml/trained_model asset reads only each series' last periods."""
    features = _features(_hourly(3, 24 * 7 * 6), HOURLY)

    def model():  # every row trains: the oldest origin's too
        options = {"strategy": strategy, "train_history": 200, "max_train_rows": 10**6}
        return create_forecaster("lightgbm", "tiny", **options)

    full, tail, shorter = model(), model(), model()
    needed = full.fit_history(HOURLY)
    assert needed < features.groupby("series_id").size().min()
    full.fit(features, HOURLY, validate=False)
    tail.fit(features.groupby("series_id").tail(needed), HOURLY, validate=False)
    pd.testing.assert_frame_equal(tail.predict(features), full.predict(features))
    shorter.fit(features.groupby("series_id").tail(needed - 1), HOURLY, validate=False)
    assert not shorter.predict(features).equals(full.predict(features))  # the bound is tight
    assert create_forecaster("lightgbm", "tiny").fit_history(HOURLY) is None
