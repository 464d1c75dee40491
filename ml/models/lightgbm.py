"""LightGBM: one global gradient-boosted model over every series, on the dbt feature table.

Direct multi-horizon: one training row per (series, origin t, step h), holding the columns
marts.fct_training_features has at the origin row (value, lag_1, lag_season, rolling mean/std,
calendar) plus two of its `value`s by row position: the same period one season before the
target (the seasonal-naive anchor, row t + h' - m with h' = (h - 1) mod m + 1) and one season
before that, and the origin's season mean one season earlier. No statistic is computed here:
dbt computes every feature, this model only gathers rows of it. The target is the value at
t + h. Every value-like column and the target are centred on the origin's `rolling_mean_season`
and divided by the series' scale there (conformal.series_scale), so one model serves series of
very different sizes; the step, the calendar and log(scale) are features as they are.

The point forecast p50 minimises absolute error (objective l1, MASE's numerator). p10/p90 are
conformal (ml/conformal.py): a first model is trained on rows whose targets end at the oldest of
`validation_origins` recent origins, early-stopped on those origins' forecasts, and their
normalised residuals per step give the band. The final model is refitted on every row with the
round count found. Saved as LightGBM's own text format (model.txt) plus config.json.
"""

from __future__ import annotations

import json
import os
import sys
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any, ClassVar

import numpy as np
import pandas as pd
from pydantic import BaseModel, ConfigDict, Field

from ml.config import ForecastSpec
from ml.conformal import ResidualBand, series_scale
from ml.errors import ArtifactError, InvalidInputError
from ml.frames import drop_leading_nulls, validate_training_frame
from ml.models.base import FORECAST_COLUMNS, FitReport, Forecaster, read_config
from ml.models.fallback import seasonal_naive_forecast
from ml.models.report import forecast_frame, unvalidated_report, validation_report

# dbt columns read at the origin row (marts.fct_training_features' contract).
DBT_COLUMNS = (
    "value",
    "lag_1",
    "lag_season",
    "rolling_mean_short",
    "rolling_std_short",
    "rolling_mean_season",
    "rolling_std_season",
    "cal_quarter",
    "cal_month",
    "cal_day_of_week",
    "cal_hour",
)
RELATIVE = ("value", "lag_1", "lag_season", "rolling_mean_short")
SPREADS = ("rolling_std_short", "rolling_std_season")
CALENDAR = ("cal_quarter", "cal_month", "cal_day_of_week", "cal_hour")
FEATURE_NAMES = (
    "step",
    *RELATIVE,
    *SPREADS,
    "anchor",
    "anchor_prev",
    "level_prev",
    "log_scale",
    *CALENDAR,
)


def _lightgbm():
    """The lightgbm module, its OpenMP runtime loaded with threads that sleep when idle.

    libgomp reads OMP_WAIT_POLICY once, when it loads. Its default lets idle threads spin:
    measured here with another process busy, a demo backtest's lightgbm took 70 s (67 s of it
    spinning) instead of 50 s. Set only while lightgbm loads, so torch's own OpenMP keeps its
    setting, and a value the user exported wins.
    """
    if "lightgbm" in sys.modules:
        return sys.modules["lightgbm"]
    unset = "OMP_WAIT_POLICY" not in os.environ
    if unset:
        os.environ["OMP_WAIT_POLICY"] = "PASSIVE"
    try:
        import lightgbm
    finally:
        if unset:
            del os.environ["OMP_WAIT_POLICY"]
    return lightgbm


class LightGBMConfig(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    num_leaves: int = Field(31, gt=1)
    learning_rate: float = Field(0.05, gt=0, le=1)
    max_rounds: int = Field(1000, gt=0, description="boosting rounds; early stopping picks fewer")
    early_stopping_rounds: int = Field(50, gt=0)
    min_data_in_leaf: int = Field(50, gt=0)
    feature_fraction: float = Field(0.8, gt=0, le=1)
    bagging_fraction: float = Field(0.8, gt=0, le=1)
    lambda_l2: float = Field(1.0, ge=0)
    max_train_rows: int = Field(
        400_000, gt=0, description="(origin, step) rows sampled for training; origins sampled"
    )
    validation_origins: int = Field(
        1,
        gt=0,
        description="recent origins held out for early stopping and the band; 1 = the newest "
        "full horizon, forecast by a model trained right up to it, like the final model",
    )
    train_history: int | None = Field(
        None, gt=0, description="only origins in each series' last N periods train; None = all"
    )
    log_target: bool | None = Field(
        None, description="learn log(target / anchor); None = when every value is positive"
    )
    n_jobs: int = Field(0, ge=0, description="LightGBM threads; 0 = every core")
    seed: int = 42


@dataclass
class _Panel:
    """The feature table as arrays sorted by (series_id, ts); series s spans start[s]:end[s]."""

    ids: np.ndarray
    start: np.ndarray
    end: np.ndarray
    ts: np.ndarray
    columns: dict[str, np.ndarray]
    series: np.ndarray  # series index of every row

    @classmethod
    def build(cls, frame: pd.DataFrame) -> _Panel:
        codes, ids = pd.factorize(frame["series_id"], sort=True)
        counts = np.bincount(codes, minlength=len(ids))
        end = np.cumsum(counts)
        columns = {c: frame[c].to_numpy(dtype="float64", na_value=np.nan) for c in DBT_COLUMNS}
        ts = frame["ts"].to_numpy()
        return cls(np.asarray(ids), end - counts, end, ts, columns, codes)


class LightGBMForecaster(Forecaster):
    name = "lightgbm"
    supports_quantiles = True
    supports_covariates = True  # the dbt feature columns
    supports_gpu = False
    preset_family: ClassVar[str] = "lightgbm"

    def __init__(self, config: LightGBMConfig | None = None):
        self.config = config or LightGBMConfig()
        self.spec: ForecastSpec | None = None
        self.booster = None
        self.band: ResidualBand | None = None
        self.log_target = False

    @classmethod
    def from_preset(cls, preset: dict, **overrides: Any) -> LightGBMForecaster:
        return cls(LightGBMConfig(**{**preset, **overrides}))

    # --- the interface -------------------------------------------------------------------------
    def fit(self, frame: pd.DataFrame, spec: ForecastSpec, validate: bool = True) -> FitReport:
        self.spec = spec
        clean = self._clean(frame, spec)
        started = time.perf_counter()
        positive = bool((clean["value"] > 0).all())
        self.log_target = positive if self.config.log_target is None else self.config.log_target
        if self.log_target and not positive:
            raise InvalidInputError(
                "lightgbm log_target needs every value > 0; set log_target: false in its preset."
            )
        panel = _Panel.build(clean)
        origins, steps = self._pairs(panel, panel.ts.max())
        val_ts = self._validation_origins(panel)
        in_train = panel.ts[origins + steps] <= val_ts.min() if len(val_ts) else None
        val_origins = self._origins(panel, np.isin(panel.ts, val_ts)) if len(val_ts) else None
        rounds, validation = self._calibrate(panel, origins, steps, in_train, val_origins)
        sample = self._sample(origins, steps)
        self.booster = self._train(panel, origins[sample], steps[sample], rounds)
        seconds = time.perf_counter() - started
        if not validate or validation is None:
            return unvalidated_report(clean, seconds, int(sample.sum()), rounds)
        history = clean[clean["ts"] <= val_ts.max()]
        return validation_report(clean, history, validation, spec, seconds, len(origins), rounds)

    def predict(self, frame: pd.DataFrame) -> pd.DataFrame:
        if self.spec is None or self.booster is None:
            raise RuntimeError("Call fit() or load() before predict().")
        clean = self._clean(frame, self.spec)
        panel = _Panel.build(clean)
        last = panel.end - 1
        long_enough = last - panel.start >= self._look_back()
        parts = []
        if long_enough.any():
            origins = last[long_enough]
            parts.append(self._forecast(panel, origins))
        for sid in panel.ids[~long_enough]:
            parts.append(seasonal_naive_forecast(clean[clean["series_id"] == sid], self.spec))
        if not parts:
            return pd.DataFrame(columns=FORECAST_COLUMNS)
        out = pd.concat(parts, ignore_index=True)
        return out.sort_values(["series_id", "horizon_step"], ignore_index=True)

    # --- training rows -------------------------------------------------------------------------
    def _clean(self, frame: pd.DataFrame, spec: ForecastSpec) -> pd.DataFrame:
        missing = [c for c in DBT_COLUMNS if c not in frame.columns]
        if missing:
            raise InvalidInputError(
                f"lightgbm reads the dbt feature columns; the frame lacks {missing}. Train it "
                "from marts.fct_training_features (the ml/backtests and ml/trained_model assets "
                "do)."
            )
        return drop_leading_nulls(validate_training_frame(frame, spec.freq))

    def _look_back(self) -> int:
        """Rows an origin needs before it: two seasons for anchor_prev and level_prev."""
        return 2 * self.spec.season_length - 1

    def _origins(self, panel: _Panel, mask: np.ndarray | None = None) -> np.ndarray:
        position = np.arange(len(panel.ts)) - panel.start[panel.series]
        ok = position >= self._look_back()
        return np.flatnonzero(ok if mask is None else ok & mask)

    def _pairs(self, panel: _Panel, until) -> tuple[np.ndarray, np.ndarray]:
        """Every (origin, step) whose target is observed at or before `until`."""
        origins = self._origins(panel)
        if self.config.train_history:
            recent = panel.end[panel.series[origins]] - origins <= self.config.train_history
            origins = origins[recent]
        horizon = self.spec.horizon
        o = np.repeat(origins, horizon)
        h = np.tile(np.arange(1, horizon + 1), len(origins))
        inside = o + h < panel.end[panel.series[o]]
        o, h = o[inside], h[inside]
        keep = panel.ts[o + h] <= until
        return o[keep], h[keep]

    def _validation_origins(self, panel: _Panel) -> np.ndarray:
        """The most recent origin timestamps with a whole horizon of actuals after them."""
        offset = pd.tseries.frequencies.to_offset(self.spec.freq)
        newest = pd.Timestamp(panel.ts.max()) - self.spec.horizon * offset
        wanted = [newest - k * offset for k in range(self.config.validation_origins)]
        usable = panel.ts[self._origins(panel)]
        return np.asarray([t for t in wanted if (usable == np.datetime64(t)).any()], "M8[ns]")

    def _sample(self, origins: np.ndarray, steps: np.ndarray) -> np.ndarray:
        """Whole origins (all their steps) drawn at random until max_train_rows are reached."""
        if len(origins) <= self.config.max_train_rows:
            return np.ones(len(origins), dtype=bool)
        unique = np.unique(origins)
        share = self.config.max_train_rows / len(origins)
        rng = np.random.default_rng(self.config.seed)
        chosen = rng.choice(unique, size=max(1, int(len(unique) * share)), replace=False)
        return np.isin(origins, chosen)

    def _design(self, panel: _Panel, origins: np.ndarray, steps: np.ndarray):
        """(features (n, F), base (n,), scale (n,)) of (origin, step) rows: the model learns
        (target - base) / scale, base being the seasonal-naive anchor."""
        m, cols = self.spec.season_length, panel.columns
        level = cols["rolling_mean_season"][origins]
        scale = series_scale(level, cols["rolling_std_season"][origins])
        inside = (steps - 1) % m + 1  # the target's position within the season ahead

        def relative(values: np.ndarray) -> np.ndarray:
            if self.log_target:
                return np.log(values) - np.log(level)
            return (values - level) / scale

        features = {"step": steps.astype("float64")}
        features |= {c: relative(cols[c][origins]) for c in RELATIVE}
        features |= {c: cols[c][origins] / scale for c in SPREADS}
        anchor = cols["value"][origins + inside - m]
        features["anchor"] = relative(anchor)
        features["anchor_prev"] = relative(cols["value"][origins + inside - 2 * m])
        features["level_prev"] = relative(cols["rolling_mean_season"][origins - m])
        features["log_scale"] = np.log(scale)
        features |= {c: cols[c][origins] for c in CALENDAR}
        matrix = np.column_stack([features[name] for name in FEATURE_NAMES]).astype("float32")
        return matrix, anchor, scale

    # --- LightGBM ------------------------------------------------------------------------------
    def _params(self) -> dict:
        c = self.config
        return {
            "objective": "l1",
            "learning_rate": c.learning_rate,
            "num_leaves": c.num_leaves,
            "min_data_in_leaf": c.min_data_in_leaf,
            "feature_fraction": c.feature_fraction,
            "bagging_fraction": c.bagging_fraction,
            "bagging_freq": 1 if c.bagging_fraction < 1 else 0,
            "lambda_l2": c.lambda_l2,
            "num_threads": c.n_jobs,
            "seed": c.seed,
            "deterministic": True,
            "force_row_wise": True,
            "verbosity": -1,
        }

    def _dataset(self, panel: _Panel, origins: np.ndarray, steps: np.ndarray, reference=None):
        lgb = _lightgbm()

        matrix, base, scale = self._design(panel, origins, steps)
        actual = panel.columns["value"][origins + steps]
        target = np.log(actual / base) if self.log_target else (actual - base) / scale
        return lgb.Dataset(
            matrix,
            target,
            feature_name=list(FEATURE_NAMES),
            reference=reference,
            free_raw_data=True,
        )

    def _train(self, panel: _Panel, origins, steps, rounds: int):
        lgb = _lightgbm()

        return lgb.train(self._params(), self._dataset(panel, origins, steps), rounds)

    def _calibrate(self, panel, origins, steps, in_train, val_origins):
        """(rounds, validation forecasts at the newest held-out origin); sets self.band."""
        lgb = _lightgbm()

        if in_train is None or not in_train.any() or len(val_origins) == 0:
            # Too little history to hold anything out: no early stopping, no band.
            self.band = None
            return self.config.max_rounds // 4 or 1, None
        sample = self._sample(origins[in_train], steps[in_train])
        train = self._dataset(panel, origins[in_train][sample], steps[in_train][sample])
        held_o, held_h = self._pairs_from(panel, val_origins)
        valid = self._dataset(panel, held_o, held_h, reference=train)
        booster = lgb.train(
            self._params(),
            train,
            self.config.max_rounds,
            valid_sets=[valid],
            callbacks=[lgb.early_stopping(self.config.early_stopping_rounds, verbose=False)],
        )
        rounds = max(1, booster.best_iteration or self.config.max_rounds)
        quantiles = self._quantiles(booster, panel, held_o, held_h, rounds=rounds)
        actual = panel.columns["value"][held_o + held_h]
        scale = quantiles["scale"]
        error = (actual - quantiles["p50"]) / scale
        self.band = ResidualBand.fit(
            pd.DataFrame({"horizon_step": held_h, "error": error}), self.spec.horizon
        )
        newest = panel.ts[held_o] == panel.ts[held_o].max()
        low, high = self.band.interval(quantiles["p50"][newest], held_h[newest], scale[newest])
        validation = pd.DataFrame(
            {
                "series_id": panel.ids[panel.series[held_o[newest]]],
                "target_ts": panel.ts[held_o[newest] + held_h[newest]],
                "actual": actual[newest],
                "p10": low,
                "p50": quantiles["p50"][newest],
                "p90": high,
            }
        )
        # The final model sees more rows than the calibration model: a few more rounds.
        return int(np.ceil(rounds * 1.1)), validation

    def _pairs_from(self, panel: _Panel, origins: np.ndarray):
        horizon = self.spec.horizon
        o = np.repeat(origins, horizon)
        h = np.tile(np.arange(1, horizon + 1), len(origins))
        inside = o + h < panel.end[panel.series[o]]
        return o[inside], h[inside]

    def _quantiles(self, booster, panel, origins, steps, rounds=None) -> dict:
        """p50 and the scale of (origin, step) rows."""
        matrix, base, scale = self._design(panel, origins, steps)
        raw = booster.predict(matrix, num_iteration=rounds)
        p50 = base * np.exp(raw) if self.log_target else base + scale * raw
        return {"p50": p50, "scale": scale}

    def _forecast(self, panel: _Panel, origins: np.ndarray) -> pd.DataFrame:
        horizon = self.spec.horizon
        o = np.repeat(origins, horizon)
        h = np.tile(np.arange(1, horizon + 1), len(origins))
        quantiles = self._quantiles(self.booster, panel, o, h)
        p50 = quantiles["p50"]
        if self.band is None:  # no held-out origin to calibrate on: a point forecast only
            low = high = p50
        else:
            low, high = self.band.interval(p50, h, quantiles["scale"])
        stacked = np.stack([low, p50, high], axis=-1).reshape(len(origins), horizon, 3)
        ids = panel.ids[panel.series[origins]]
        return forecast_frame(
            pd.Series(panel.ts[origins], index=ids), stacked, self.spec, self.name
        )

    # --- persistence: LightGBM's text format + JSON ---------------------------------------------
    def save(self, directory: Path) -> None:
        if self.spec is None or self.booster is None:
            raise RuntimeError("Nothing to save: fit() first.")
        directory = Path(directory)
        directory.mkdir(parents=True, exist_ok=True)
        self.booster.save_model(str(directory / "model.txt"))
        config = {
            "forecaster": self.name,
            "format_version": 1,
            "spec": self.spec.model_dump(),
            "config": self.config.model_dump(),
            "band": self.band.to_dict() if self.band else None,
            "log_target": self.log_target,
            "features": list(FEATURE_NAMES),
        }
        (directory / "config.json").write_text(json.dumps(config, indent=1))

    @classmethod
    def load(cls, directory: Path) -> LightGBMForecaster:
        lgb = _lightgbm()

        config = read_config(Path(directory))
        try:
            if config["forecaster"] != cls.name:
                raise ValueError(f"config is for {config['forecaster']!r}, not {cls.name!r}")
            if config["features"] != list(FEATURE_NAMES):
                raise ValueError("the saved model uses other features than this version")
            forecaster = cls(LightGBMConfig(**config["config"]))
            forecaster.spec = ForecastSpec(**config["spec"])
            band = config["band"]
            forecaster.band = band and ResidualBand.from_dict(band, forecaster.spec.horizon)
            forecaster.log_target = bool(config["log_target"])
            forecaster.booster = lgb.Booster(model_file=str(Path(directory) / "model.txt"))
        except (KeyError, TypeError, ValueError, lgb.basic.LightGBMError) as error:
            raise ArtifactError(f"LightGBM model in {directory} is invalid: {error}") from error
        if forecaster.booster.num_feature() != len(FEATURE_NAMES):
            raise ArtifactError(f"LightGBM model in {directory} has the wrong number of features.")
        return forecaster
