"""Any user's data, not only the demo's 36-year series: the default models on short and mixed
histories. Every family fits the history it is given or declares its minimum
(Forecaster.min_history); below it every series gets the labelled seasonal-naive fallback; a
backtest cutoff no series can be scored at is dropped with a warning; an ensemble combines the
members that could fit and says which."""

from __future__ import annotations

import logging

import numpy as np
import pandas as pd
import pytest
import yaml

from benchmarks.pandas_features import add_features
from ml.backtest import BacktestConfig, Candidate, ModelChoice, candidates_for, run_backtest
from ml.batched import run_backtest_batched
from ml.config import ForecastSpec
from ml.errors import InvalidInputError
from ml.models import MODELS, create_forecaster, load_forecaster
from ml.models.fallback import METHOD as FALLBACK
from ml.models.fallback import can_fit, fallback_forecast

MONTHLY = ForecastSpec(horizon=24, freq="MS", season_length=12)
PIPELINES = "orchestration/pipelines.yaml"


def monthly(lengths: list[int], seed: int = 0) -> pd.DataFrame:
    """Seasonal + trend + noise monthly series of the given lengths, all ending in the same
    month (as a user's upload does), with the dbt feature columns lightgbm reads."""
    rng = np.random.default_rng(seed)
    parts = []
    for i, n in enumerate(lengths):
        t = np.arange(n)
        season = rng.uniform(5, 20) * np.sin(2 * np.pi * t / 12 + rng.uniform(0, 6))
        trend = rng.uniform(-0.2, 0.5) * t
        values = rng.uniform(80, 300) + trend + season + rng.normal(0, 3, n)
        ts = pd.date_range(end="2024-12-01", periods=n, freq="MS")
        parts.append(pd.DataFrame({"series_id": f"s{i:03d}_{n}", "ts": ts, "value": values}))
    return add_features(pd.concat(parts, ignore_index=True), 3, 12)


def _candidates(entries: list[dict], bound: int | None = 120) -> list[Candidate]:
    """Candidates as the backtest asset builds them from a pipeline's entries."""
    return candidates_for([ModelChoice(**entry) for entry in entries], bound)


def _tiny(entries: list[dict]) -> list[dict]:
    """The same model list with tiny presets (members too), for speed."""
    out = []
    for entry in entries:
        entry = {**entry, "preset": "tiny"}
        members = entry.get("overrides", {}).get("members")
        if members:
            entry["overrides"] = {**entry["overrides"], "members": _tiny(members)}
        out.append(entry)
    return out


def _default_models() -> list[dict]:
    with open(PIPELINES) as handle:
        return yaml.safe_load(handle)["aus_retail"]["models"]


# --- every registered family ----------------------------------------------------------------
@pytest.mark.parametrize("name", sorted(MODELS))
def test_every_family_fits_or_declares_its_minimum(name):
    """Series of 2, 13 and 25 points alone and mixed with longer ones: fit() trains exactly
    when the declared minimum is met (else InvalidInputError, and callers fall back), and
    every series gets finite, ordered quantiles."""
    spec = ForecastSpec(horizon=18, freq="MS", season_length=12)
    for lengths in ([2, 13, 25], [2, 13, 25, 66, 80]):
        frame = monthly(lengths)
        model = create_forecaster(name, "tiny")
        if can_fit(model, frame, spec, validate=True):
            model.fit(frame, spec, validate=True)
            forecast = model.predict(frame)
        else:
            with pytest.raises(InvalidInputError):
                model.fit(frame, spec, validate=True)
            forecast = fallback_forecast(frame, spec)
        assert sorted(forecast["series_id"].unique()) == sorted(frame["series_id"].unique())
        assert len(forecast) == len(lengths) * spec.horizon
        quantiles = forecast[["p10", "p50", "p90"]].to_numpy()
        assert np.isfinite(quantiles).all()
        assert (np.diff(quantiles, axis=1) >= -1e-9).all()
        two = forecast[forecast["series_id"].str.endswith("_2")]
        assert (two["method"] == FALLBACK).all()  # 2 points: no model, the labelled fallback


def test_a_network_shortens_its_encoder_to_what_the_data_allows(tmp_path):
    """mlp tiny (encoder 24) on 5-year series, horizon 24 held out twice: no 72-period window
    exists, so it trains on a one-season encoder, saves it, and forecasts every series with
    the network; long series keep the preset's encoder."""
    short = monthly([60] * 6)
    model = create_forecaster("mlp", "tiny")
    model.fit(short, MONTHLY, validate=True)
    assert model.config.encoder_length == 12
    forecast = model.predict(short)
    assert (forecast["method"] == "mlp").all()
    model.save(tmp_path / "mlp")
    loaded = load_forecaster(tmp_path / "mlp")
    assert loaded.config.encoder_length == 12
    pd.testing.assert_frame_equal(loaded.predict(short), forecast)

    long = create_forecaster("mlp", "tiny")
    long.fit(monthly([160] * 3), MONTHLY, validate=True)
    assert long.config == long.preset_config  # unchanged for long enough series


# --- the ensemble -----------------------------------------------------------------------------
def test_ensemble_combines_the_members_that_could_fit_and_records_which(tmp_path):
    frame = monthly([40, 44, 50])  # mlp (validate: 12 + 2 x 24 = 60) cannot fit
    members = [
        {"name": "seasonal_naive", "preset": "tiny"},
        {"name": "auto_theta", "preset": "tiny"},
        {"name": "mlp", "preset": "tiny"},
    ]
    model = create_forecaster("ensemble", "tiny", members=members)
    assert not can_fit(create_forecaster("mlp", "tiny"), frame, MONTHLY, validate=True)
    report = model.fit(frame, MONTHLY)
    assert model.fitted == [0, 1]
    assert "mlp:tiny left out" in model.describe()
    assert "seasonal_naive:tiny, auto_theta:tiny" in model.describe()
    forecast = model.predict(frame)
    assert (forecast["method"] == "ensemble").all()
    assert forecast["series_id"].nunique() == 3
    assert np.isfinite(report.val_mase)
    model.save(tmp_path / "ensemble")
    loaded = load_forecaster(tmp_path / "ensemble")
    assert loaded.fitted == [0, 1] and loaded.describe() == model.describe()
    pd.testing.assert_frame_equal(loaded.predict(frame), forecast)


def test_ensemble_of_members_none_of_which_can_fit_declares_it():
    members = [{"name": "lightgbm", "preset": "tiny"}, {"name": "mlp", "preset": "tiny"}]
    model = create_forecaster("ensemble", "tiny", members=members)
    frame = monthly([20, 22])
    assert model.min_history(MONTHLY) == 26  # lightgbm's: two seasons of look-back, 2 origins
    with pytest.raises(InvalidInputError, match="No ensemble member can fit"):
        model.fit(frame, MONTHLY)


# --- the backtest -----------------------------------------------------------------------------
def test_many_short_series_with_the_default_model_list_all_get_forecasts():
    """24 monthly series of 4 to 8 years, the aus_retail model list (tiny presets), 2 cutoffs
    a year apart: the ensemble's mlp once found no training window here and the whole backtest
    failed."""
    lengths = list(np.random.default_rng(1).integers(48, 97, size=24))
    frame = monthly(lengths, seed=1)
    config = BacktestConfig(cutoffs=2, step=12, max_history_statistical=120)
    result = run_backtest(frame, MONTHLY, _candidates(_tiny(_default_models())), config)
    summary = result.summary.set_index("model")
    assert set(summary.index) == {m["name"] for m in _default_models()}
    for cutoff in result.cutoffs:
        at = result.points[result.points["cutoff"] == cutoff]
        eligible = frame.loc[frame["ts"] <= cutoff].groupby("series_id").size()
        for model, rows in at.groupby("model"):
            assert set(rows["series_id"]) == set(eligible[eligible >= 3].index), model
    assert summary["share_fallback"].between(0, 1).all()
    assert summary.loc["seasonal_naive", "share_fallback"] == 0.0
    assert summary.loc["ensemble", "share_fallback"] < 0.5
    assert np.isfinite(summary["mase"]).all()


def test_few_short_series_with_the_real_default_models():
    """3 series of 4 years and the real default list (small presets): at the cutoffs (12 and 24
    periods of history) lightgbm and the mlp fall back for every series, the ensemble combines
    AutoETS and AutoTheta; nothing fails."""
    frame = monthly([48, 48, 48], seed=2)
    config = BacktestConfig(cutoffs=2, step=12, max_history_statistical=120)
    result = run_backtest(frame, MONTHLY, _candidates(_default_models()), config)
    summary = result.summary.set_index("model")
    assert summary.loc["lightgbm", "share_fallback"] == 1.0
    assert summary.loc["mlp", "share_fallback"] == 1.0
    assert (summary["n_series"] == 3).all() and (summary["n_cutoffs"] == 2).all()


def test_a_cutoff_no_series_reaches_is_dropped_with_a_warning(caplog):
    frame = monthly([50, 40])  # 3 cutoffs a year apart: the oldest has 2 periods or fewer
    config = BacktestConfig(cutoffs=3, step=12)
    naive = _candidates([{"name": "seasonal_naive", "preset": "tiny"}])
    with caplog.at_level(logging.WARNING, logger="ml.backtest"):
        result = run_backtest(frame, MONTHLY, naive, config)
    oldest = pd.Timestamp("2024-12-01") - pd.DateOffset(months=48)
    assert result.dropped_cutoffs == [oldest]
    assert oldest not in result.cutoffs and len(result.cutoffs) == 2
    dropped = [r for r in caplog.records if "dropped" in r.getMessage()]
    assert len(dropped) == 1 and "\n" not in dropped[0].getMessage()

    with pytest.raises(InvalidInputError, match=r"backtest\.cutoffs"):
        run_backtest(monthly([20]), MONTHLY, naive, BacktestConfig(cutoffs=2, step=12))


def test_batched_backtest_drops_cutoffs_and_falls_back_like_run_backtest(caplog):
    """lightgbm streamed over batches with every series shorter than its minimum at a cutoff
    falls back for all of them, and a cutoff no series reaches is dropped, as unbatched."""
    frame = monthly([40, 44, 52, 60])
    entries = [{"name": "seasonal_naive", "preset": "tiny"}, {"name": "lightgbm", "preset": "tiny"}]
    config = BacktestConfig(cutoffs=4, step=12)  # the oldest: no history; then 12 at most
    ids = sorted(frame["series_id"].unique())

    def batches():
        for part in (ids[:2], ids[2:]):
            yield frame[frame["series_id"].isin(part)]

    with caplog.at_level(logging.WARNING):
        batched = run_backtest_batched(
            batches, MONTHLY, _candidates(entries), config, frame["ts"].max(), len(ids)
        )
    whole = run_backtest(frame, MONTHLY, _candidates(entries), config)
    assert batched.dropped_cutoffs == whole.dropped_cutoffs and len(whole.dropped_cutoffs) == 1
    assert batched.cutoffs == whole.cutoffs
    columns = ["model", "cutoff", "series_id", "horizon_step", "p50", "method"]
    left = batched.points[columns].sort_values(columns[:4], ignore_index=True)
    right = whole.points[columns].sort_values(columns[:4], ignore_index=True)
    pd.testing.assert_frame_equal(left, right)
    lgb = whole.points[(whole.points["model"] == "lightgbm")]
    oldest_kept = min(whole.cutoffs)
    assert (lgb.loc[lgb["cutoff"] == oldest_kept, "method"] == FALLBACK).all()


def test_ensemble_band_is_calibrated_on_rows_its_members_modelled():
    """Series whose held-out part a member could only fill with its fallback (30 points, 6
    left once 24 are held out) do not calibrate the band of the series it models."""
    frame = monthly([30, 30, 30, 120, 120, 120])
    members = [{"name": "seasonal_naive", "preset": "tiny"}, {"name": "auto_ets", "preset": "tiny"}]
    model = create_forecaster("ensemble", "tiny", members=members)
    report = model.fit(frame, MONTHLY)
    long_ids = {s for s in frame["series_id"].unique() if s.endswith("_120")}
    held_out = model._combine_validation(
        [create_forecaster(m["name"], m["preset"]).fit(frame, MONTHLY).validation_forecasts
         for m in members]
    )  # fmt: skip
    assert set(held_out["series_id"]) == long_ids
    assert model.band.n_residuals == len(held_out)
    assert np.isfinite(report.val_mase)
