"""The TFT forecaster on a few real demo series: fit, predict, save/load, tampering."""

from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest

from ml.config import ForecastSpec
from ml.datasets import load_aus_retail
from ml.errors import ArtifactError
from ml.models import create_forecaster, load_forecaster, registry

SPEC = ForecastSpec(horizon=12, freq="MS", season_length=12)
SHORT = "A3349754K"  # one of the two 32-month demo series


@pytest.fixture(scope="module")
def history() -> pd.DataFrame:
    frame = load_aus_retail()
    keep = [*sorted(frame["series_id"].unique())[:5], SHORT]
    frame = frame[frame["series_id"].isin(keep)].copy()
    # a series shorter than min_encoder_length (12): gets the labelled fallback
    tiny = frame[frame["series_id"] == keep[0]].tail(6).assign(series_id="too_short")
    return pd.concat([frame, tiny], ignore_index=True)


@pytest.fixture(scope="module")
def fitted(history):
    model = create_forecaster("tft", "tiny", progress_bar=False)
    report = model.fit(history, SPEC)
    return model, report


def test_fit_report(fitted, history):
    _, report = fitted
    assert report.n_series == history["series_id"].nunique()
    assert report.n_train_samples > 0
    assert 0 <= report.val_coverage_80 <= 1
    assert np.isfinite(report.val_mase) and np.isfinite(report.baseline_val_mase)
    val = report.validation_forecasts
    assert {"series_id", "target_ts", "actual", "p10", "p50", "p90"} <= set(val.columns)
    assert val["actual"].notna().all()


def test_predict_every_series_on_the_grid(fitted, history):
    model, _ = fitted
    out = model.predict(history)
    n_series = history["series_id"].nunique()
    assert len(out) == n_series * SPEC.horizon
    assert (out["p10"] <= out["p50"]).all() and (out["p50"] <= out["p90"]).all()
    assert out[["p10", "p50", "p90"]].notna().all().all()
    methods = out.groupby("series_id")["method"].first()
    assert methods["too_short"] == "seasonal_naive_fallback"
    assert methods[SHORT] == "tft"  # 32 months: a shorter encoder, still the model
    last = history.groupby("series_id")["ts"].max()
    first_step = out[out["horizon_step"] == 1].set_index("series_id")
    assert (first_step["forecast_origin"] == last.loc[first_step.index]).all()
    assert (first_step["target_ts"] == last.loc[first_step.index] + pd.DateOffset(months=1)).all()


def test_save_load_round_trip(fitted, history, tmp_path):
    model, _ = fitted
    model.save(tmp_path / "m")
    assert sorted(p.name for p in (tmp_path / "m").iterdir()) == [
        "config.json",
        "model.safetensors",
    ]
    reloaded = load_forecaster(tmp_path / "m")
    before, after = model.predict(history), reloaded.predict(history)
    diff = (before[["p10", "p50", "p90"]] - after[["p10", "p50", "p90"]]).abs().to_numpy().max()
    assert diff < 1e-5


def test_tampered_artifacts_fail_closed(fitted, tmp_path):
    model, _ = fitted
    model.save(tmp_path / "m")
    weights = tmp_path / "m" / "model.safetensors"
    weights.write_bytes(weights.read_bytes()[:1000])
    with pytest.raises(ArtifactError, match="cannot be loaded"):
        load_forecaster(tmp_path / "m")

    model.save(tmp_path / "n")
    config = json.loads((tmp_path / "n" / "config.json").read_text())
    config["output_transformer"] = {"__object__": "os.system", "state": {"__dict__": {}}}
    (tmp_path / "n" / "config.json").write_text(json.dumps(config))
    with pytest.raises(ArtifactError, match="not an allowed class"):
        load_forecaster(tmp_path / "n")


def test_registry_and_capabilities():
    for name, cls in registry().items():
        assert cls.name == name
        assert isinstance(cls.supports_quantiles, bool)
        assert isinstance(cls.supports_gpu, bool)
