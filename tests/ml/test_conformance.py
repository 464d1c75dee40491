"""Every registered model honours the one interface, on tiny real data with its `tiny` preset:
fit, forecast shape/columns/order, no NaN, save -> load -> the same forecast, and a tampered
artefact fails closed."""

from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest

from benchmarks.pandas_features import add_features
from ml.config import ForecastSpec
from ml.errors import ArtifactError
from ml.models import MODELS, create_forecaster, load_forecaster, registry
from ml.models.base import FORECAST_COLUMNS
from tests.ml.helpers import retail

SPEC = ForecastSpec(horizon=6, freq="MS", season_length=12)
QUANTILE_COLUMNS = ["p10", "p50", "p90"]


@pytest.fixture(scope="module")
def history() -> pd.DataFrame:
    frame = retail(4, 96)
    first = frame[frame["series_id"] == frame["series_id"].min()]
    short = first.tail(5).assign(series_id="too_short")
    # The columns marts.fct_training_features has (the pandas twin the dbt parity test checks):
    # lightgbm reads them; the others ignore them.
    return add_features(pd.concat([frame, short], ignore_index=True), 3, SPEC.season_length)


@pytest.fixture(scope="module", params=sorted(MODELS))
def fitted(request, history):
    model = create_forecaster(request.param, "tiny")
    report = model.fit(history, SPEC)
    return model, report, model.predict(history)


def test_every_model_is_registered_with_capabilities():
    for name, cls in registry().items():
        assert cls.name == name
        for capability in ("supports_quantiles", "supports_covariates", "supports_gpu"):
            assert isinstance(getattr(cls, capability), bool), (name, capability)
        assert cls.explainer is None or callable(cls.explainer), name


def test_fit_reports_validation(fitted, history):
    _, report, _ = fitted
    assert report.n_series == history["series_id"].nunique()
    assert np.isfinite(report.val_mase) and np.isfinite(report.baseline_val_mase)
    assert 0 <= report.val_coverage_80 <= 1
    assert report.validation_forecasts["actual"].notna().all()


def test_forecast_shape_columns_order(fitted, history):
    model, _, forecast = fitted
    assert list(forecast.columns) == FORECAST_COLUMNS
    assert len(forecast) == history["series_id"].nunique() * SPEC.horizon
    assert not forecast[QUANTILE_COLUMNS].isna().any().any()
    assert (forecast["p10"] <= forecast["p50"]).all() and (forecast["p50"] <= forecast["p90"]).all()
    methods = forecast.groupby("series_id")["method"].first()
    assert methods["too_short"] == "seasonal_naive_fallback"
    assert (methods.drop("too_short") == model.name).all()
    last = history.groupby("series_id")["ts"].max()
    first = forecast[forecast["horizon_step"] == 1].set_index("series_id")
    assert (first["forecast_origin"] == last.loc[first.index]).all()
    assert (first["target_ts"] == last.loc[first.index] + pd.DateOffset(months=1)).all()


def test_save_load_same_forecast(fitted, history, tmp_path):
    model, _, forecast = fitted
    model.save(tmp_path)
    again = load_forecaster(tmp_path).predict(history)
    np.testing.assert_allclose(
        again[QUANTILE_COLUMNS].to_numpy(), forecast[QUANTILE_COLUMNS].to_numpy(), rtol=1e-5
    )
    assert not list(tmp_path.glob("*.pt")) and not list(tmp_path.glob("*.pkl"))


def test_tampered_artifacts_fail_closed(fitted, tmp_path):
    model, _, _ = fitted
    model.save(tmp_path / "config")
    path = tmp_path / "config" / "config.json"
    config = json.loads(path.read_text())
    config["spec"]["horizon"] = "twelve"
    path.write_text(json.dumps(config))
    with pytest.raises(ArtifactError):
        load_forecaster(tmp_path / "config")

    model.save(tmp_path / "truncated")
    path = tmp_path / "truncated" / "config.json"
    path.write_text(path.read_text()[:50])
    with pytest.raises(ArtifactError):
        load_forecaster(tmp_path / "truncated")

    weights = tmp_path / "weights" / "model.safetensors"
    model.save(tmp_path / "weights")
    if weights.exists():  # statistical models store configuration only
        weights.write_bytes(weights.read_bytes()[:200])
        with pytest.raises(ArtifactError):
            load_forecaster(tmp_path / "weights")


@pytest.mark.parametrize("name", ["seasonal_naive", "lstm"])
def test_fit_without_validation_still_forecasts(name, history):
    model = create_forecaster(name, "tiny")
    report = model.fit(history, SPEC, validate=False)
    assert np.isnan(report.val_mase) and report.validation_forecasts.empty
    assert report.n_series == history["series_id"].nunique()
    forecast = model.predict(history)
    assert len(forecast) == history["series_id"].nunique() * SPEC.horizon


@pytest.mark.parametrize(
    "name", sorted(n for n, cls in registry().items() if not cls.holdout_changes_fit)
)
def test_families_that_say_validation_leaves_the_fit_alone_forecast_the_same(name, history):
    """holdout_changes_fit False is what lets a backtest hand a candidate's forecasts to an
    ensemble (ml.backtest.MemberReuse): fit(validate=False) must forecast exactly the same."""
    forecasts = []
    for validate in (True, False):
        model = create_forecaster(name, "tiny")
        model.fit(history, SPEC, validate=validate)
        forecasts.append(model.predict(history))
    pd.testing.assert_frame_equal(*forecasts, check_exact=True)
