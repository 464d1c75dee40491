"""lightgbm, ensemble and the conformal band: no look-ahead, members recorded, bands ordered."""

from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest

from ml.backtest import BacktestConfig, Candidate
from ml.config import ForecastSpec
from ml.conformal import ResidualBand, history_scale, residuals
from ml.errors import ArtifactError, InvalidInputError
from ml.models import create_forecaster, load_forecaster
from orchestration.assets.backtest import candidates
from tests.ml import helpers
from tests.ml.helpers import QUANTILES, features

SPEC = ForecastSpec(horizon=6, freq="MS", season_length=12)


@pytest.fixture(scope="module")
def retail() -> pd.DataFrame:
    return helpers.retail(6, 120)


@pytest.mark.parametrize("name", ["lightgbm", "ensemble"])
def test_rewriting_everything_after_a_cutoff_leaves_its_forecasts_unchanged(name, retail):
    config = BacktestConfig(cutoffs=2, step=6)
    candidate = [Candidate(name, "tiny", lambda: create_forecaster(name, "tiny"))]
    helpers.assert_no_look_ahead(retail, features, SPEC, candidate, config)


def test_lightgbm_reads_the_dbt_columns_and_says_so_when_they_are_missing(retail):
    model = create_forecaster("lightgbm", "tiny")
    with pytest.raises(InvalidInputError, match=r"fct_training_features.*|lacks \['lag_1'"):
        model.fit(retail, SPEC)


def test_lightgbm_without_refit_serves_its_early_stopped_model(retail, tmp_path):
    data = features(retail)
    refitted = create_forecaster("lightgbm", "tiny")
    refitted.fit(data, SPEC, validate=False)
    early = create_forecaster("lightgbm", "tiny", refit=False)
    report = early.fit(data, SPEC, validate=False)
    # The calibration model, stopped at its best round, serves; the band is the same one.
    assert early.booster.best_iteration == report.epochs > 0
    assert early.band.to_dict() == refitted.band.to_dict()
    served, other = early.predict(data), refitted.predict(data)
    assert not np.allclose(served["p50"], other["p50"])  # a different model, not a copy
    early.save(tmp_path)
    reloaded = load_forecaster(tmp_path).predict(data)
    pd.testing.assert_frame_equal(reloaded, served)


def test_lightgbm_band_comes_from_held_out_origins_and_reloads(retail, tmp_path):
    model = create_forecaster("lightgbm", "tiny")
    report = model.fit(features(retail), SPEC)
    assert model.band is not None and model.band.n_residuals > 0
    assert (model.band.low <= 0).all() and (model.band.high >= 0).all()
    assert np.isfinite(report.val_mase) and not report.validation_forecasts.empty
    model.save(tmp_path)
    assert (tmp_path / "model.txt").read_text().startswith("tree")
    (tmp_path / "model.txt").write_text("tree\nversion=v4\nnot a model\n")
    with pytest.raises(ArtifactError):
        load_forecaster(tmp_path)


def test_ensemble_records_its_members_and_combines_them(retail, tmp_path):
    frame = features(retail)
    ensemble = create_forecaster("ensemble", "tiny", combine="median", calibrate=False)
    ensemble.fit(frame, SPEC, validate=False)
    forecast = ensemble.predict(frame)
    members = [m.predict(frame) for m in ensemble.members]
    stacked = np.stack([m["p50"].to_numpy() for m in members])
    np.testing.assert_allclose(forecast["p50"], np.median(stacked, axis=0))
    assert ensemble.describe() == "median of seasonal_naive:tiny, auto_theta:tiny, lightgbm:tiny"
    assert set(forecast["method"]) == {"ensemble"}
    ensemble.save(tmp_path)
    saved = json.loads((tmp_path / "config.json").read_text())
    assert [m["name"] for m in saved["config"]["members"]] == [
        "seasonal_naive",
        "auto_theta",
        "lightgbm",
    ]
    again = load_forecaster(tmp_path).predict(frame)
    np.testing.assert_allclose(again[QUANTILES].to_numpy(), forecast[QUANTILES].to_numpy())


def test_calibrated_ensemble_keeps_quantiles_ordered(retail):
    frame = features(retail)
    ensemble = create_forecaster("ensemble", "tiny")
    ensemble.fit(frame, SPEC, validate=False)
    forecast = ensemble.predict(frame)
    assert ensemble.band is not None
    assert (forecast["p10"] <= forecast["p50"]).all() and (forecast["p50"] <= forecast["p90"]).all()


def test_ensembles_refuse_unknown_nested_or_repeated_members():
    for members in (
        [{"name": "auto_ets"}, {"name": "prophet"}],
        [{"name": "auto_ets"}, {"name": "ensemble"}],
        [{"name": "auto_ets"}, {"name": "auto_ets"}],
    ):
        with pytest.raises(ValueError, match="ensemble members"):
            create_forecaster("ensemble", "tiny", members=members)


def test_band_quantiles_per_step_and_their_use():
    rng = np.random.default_rng(0)
    steps = np.repeat([1, 2, 3], 2000)
    errors = rng.normal(0, steps, len(steps))  # spread grows with the step
    band = ResidualBand.fit(pd.DataFrame({"horizon_step": steps, "error": errors}), horizon=3)
    assert band.low[0] > band.low[2] and band.high[0] < band.high[2]
    assert band.high[1] == pytest.approx(1.2816 * np.sqrt((1 + 4 + 9) / 3), rel=0.1)
    low, high = band.interval(np.array([10.0, 10.0]), np.array([1, 3]), np.array([2.0, 2.0]))
    np.testing.assert_allclose(low, 10 + band.low[[0, 2]] * 2)
    np.testing.assert_allclose(high, 10 + band.high[[0, 2]] * 2)
    # Biased residuals still give p10 <= p50 <= p90.
    biased = ResidualBand.fit(pd.DataFrame({"horizon_step": [1] * 50, "error": 5.0}), horizon=1)
    assert biased.low[0] == 0 and biased.high[0] == 5
    with pytest.raises(ValueError):
        ResidualBand.from_dict({"low": [0.5], "high": [1.0], "n": 1}, horizon=1)


def test_band_scale_and_residuals_per_series():
    history = pd.DataFrame(
        {"series_id": ["a"] * 4 + ["b"] * 4, "value": [1.0, 2, 3, 4, 0, 0, 0, 0]}
    )
    scale = history_scale(history, season_length=2)
    assert scale.to_dict() == {"a": 3.5, "b": 1.0}  # a constant zero series: its own units
    validation = pd.DataFrame(
        {"series_id": ["a", "b"], "horizon_step": [1, 1], "actual": [7.0, 1.0], "p50": [0.0, 0.0]}
    )
    assert residuals(validation, scale)["error"].tolist() == [2.0, 1.0]


def test_backtest_bounds_only_local_models_and_passes_the_bound_into_ensembles():
    from ml.backtest import ModelChoice

    chosen = candidates(
        [ModelChoice(name=n, preset="tiny") for n in ("auto_ets", "lightgbm", "ensemble")], 48
    )
    by_name = {c.name: c for c in chosen}
    assert by_name["auto_ets"].max_history == 48
    assert by_name["lightgbm"].max_history is None and by_name["lightgbm"].overrides == {}
    assert by_name["ensemble"].max_history is None
    assert by_name["ensemble"].overrides == {"max_history_statistical": 48}
    members = by_name["ensemble"].build().config
    assert members.max_history_statistical == 48
