"""LightGBM: one global gradient-boosted model over every series, on the dbt feature table.

Direct multi-horizon (the default): one training row per (series, origin, step) built from
the columns marts.fct_training_features has (ml/models/direct_rows.py says which and how they
are scaled); no feature is computed here. Recursive (`strategy: recursive`): step-1 rows only,
the horizon forecast a step at a time with each forecast fed back (ml/models/recursive_rows.py
computes the fed-back rows' columns as the mart would).

The point forecast p50 minimises absolute error (objective l1, MASE's numerator). p10/p90 are
conformal (ml/conformal.py): a first model is trained on rows whose targets end at the oldest
of `validation_origins` recent origins, early-stopped on those origins' forecasts, and their
normalised residuals per step give the band. The final model is refitted on every row with the
round count found, or (`refit: false`) the calibration model serves: half the training time,
without the newest held-out targets. Saved as LightGBM's own text format (model.txt) plus
config.json.
"""

from __future__ import annotations

import os
import sys
from collections.abc import Callable, Iterable
from functools import partial
from pathlib import Path
from typing import Any, ClassVar, Literal

import numpy as np
import pandas as pd
from pydantic import BaseModel, ConfigDict, Field

from ml.config import ForecastSpec
from ml.conformal import ResidualBand
from ml.errors import ArtifactError, InvalidInputError
from ml.explain import lightgbm_explanations
from ml.frames import drop_leading_nulls, validate_training_frame
from ml.models.base import FORECAST_COLUMNS, FitReport, Forecaster, read_config, write_config
from ml.models.direct_rows import DBT_COLUMNS, DirectRows, Panel, feature_names
from ml.models.fallback import seasonal_naive_forecast
from ml.models.lightgbm_rows import BatchFitting, Gathered
from ml.models.recursive_rows import Origins, forecast_paths, held_out_forecasts
from ml.models.report import forecast_frame


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
    refit: bool = Field(
        True,
        description="train the final model again on every row (the held-out origins' targets "
        "too); false: the early-stopped calibration model serves, in half the training time",
    )
    strategy: Literal["direct", "recursive"] = Field(
        "direct",
        description="direct: a row per (origin, step), every step forecast at once; recursive: "
        "one-step rows (a horizon's times fewer), the horizon forecast a step at a time, each "
        "forecast fed back as the next step's lags (ml/models/recursive_rows.py)",
    )
    n_jobs: int = Field(0, ge=0, description="LightGBM threads; 0 = every core")
    seed: int = 42


class LightGBMForecaster(Forecaster):
    name = "lightgbm"
    supports_quantiles = True
    supports_covariates = True  # the dbt feature columns
    supports_gpu = False
    # The held-out origins train the calibration model either way; validate adds the report.
    holdout_changes_fit = False
    preset_family: ClassVar[str] = "lightgbm"
    explainer = lightgbm_explanations

    def __init__(self, config: LightGBMConfig | None = None):
        self.config = config or LightGBMConfig()
        self.spec: ForecastSpec | None = None
        self.booster = None
        self.band: ResidualBand | None = None
        self.log_target = False

    @classmethod
    def from_preset(cls, preset: dict, **overrides: Any) -> LightGBMForecaster:
        return cls(LightGBMConfig(**{**preset, **overrides}))

    def min_history(self, spec: ForecastSpec, validate: bool = True) -> int:
        """Two origins with their look-back (two seasons) and the targets after them, MIN_ROWS
        rows at least; without a held-out origin too, it trains uncalibrated (p10 = p50)."""
        return DirectRows(spec).look_back + 3

    # --- the interface -------------------------------------------------------------------------
    def fit(self, frame: pd.DataFrame, spec: ForecastSpec, validate: bool = True) -> FitReport:
        return self.fit_batches(lambda: [frame], spec, validate)

    def fit_batches(
        self,
        batches: Callable[[], Iterable[pd.DataFrame]],
        spec: ForecastSpec,
        validate: bool = True,
        n_series: int | None = None,
        newest: pd.Timestamp | None = None,
    ) -> FitReport:
        """Train from batches of whole series, so memory follows the batch and max_train_rows.

        batches() iterates them (a second time only if log_target was guessed from the first
        batch and a later one has a value <= 0). n_series: series in all batches, so each batch
        samples its share of max_train_rows (None: one batch). newest: the last ts of all of
        them (the held-out origins). The validation report scores the first batch's series."""
        for log_target in (self.config.log_target, False):
            fitting = self.start_batches(spec, n_series, newest, validate, log_target)
            if all(fitting.add(frame) for frame in batches()):
                return fitting.finish()
        raise AssertionError("unreachable: the second pass never switches the log scale on")

    def start_batches(
        self,
        spec: ForecastSpec,
        n_series: int | None = None,
        newest: pd.Timestamp | None = None,
        validate: bool = True,
        log_target: bool | None = None,
    ) -> BatchFitting:
        """fit_batches for a caller that iterates the batches itself (ml/batched.py feeds every
        cutoff's fit from one read of the table): add() each batch, then finish()."""
        if self.config.strategy == "recursive" and spec.short_window is None:
            raise InvalidInputError(
                "lightgbm's recursive strategy computes the feature mart's *_short rolling "
                "columns for the periods it forecasts: give the forecast spec short_window (the "
                "dbt var the mart was built with; pipelines pass it)."
            )
        return BatchFitting(self, spec, n_series, newest, validate, log_target)

    def predict(self, frame: pd.DataFrame) -> pd.DataFrame:
        if self.spec is None or self.booster is None:
            raise RuntimeError("Call fit() or load() before predict().")
        clean = self._clean(frame, self.spec)
        panel = Panel.build(clean)
        last = panel.last_rows()
        long_enough = last - panel.start >= self._rows().look_back
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

    def predict_history(self) -> int:
        """The most recent periods of a series predict() reads: the origin and its look-back
        (the dbt columns already summarise everything before)."""
        return self._rows().reach + 1

    def fit_history(self, spec: ForecastSpec) -> int | None:
        """With train_history: those periods (the newest held-out origin's too, if the horizon
        is longer) and the look-back of the oldest; the dbt columns summarise the rest. (The log
        scale, when not set, is then chosen from these rows' values.)"""
        if self.config.train_history is None:
            return None
        return max(self.config.train_history, spec.horizon + 1) + DirectRows(spec).reach

    def contributions(self, frame: pd.DataFrame) -> pd.DataFrame:
        """What drove predict()'s p50: per (series_id, horizon_step), each feature's TreeSHAP
        contribution to the booster's output (LightGBM's pred_contrib) and `bias`, the
        expected output; they sum to the output. `base` and `scale` turn the output into the
        forecast (DirectRows.value; on the log scale when `log_target`). Series predict()
        hands to the seasonal-naive fallback have no rows."""
        if self.spec is None or self.booster is None:
            raise RuntimeError("Call fit() or load() before contributions().")
        panel = Panel.build(self._clean(frame, self.spec))
        last = panel.last_rows()
        origins = last[last - panel.start >= self._rows().look_back]
        horizon = self.spec.horizon
        o = np.repeat(origins, horizon)
        h = np.tile(np.arange(1, horizon + 1), len(origins))
        if self.config.strategy == "recursive":  # each step's own rows, its fed-back lags
            paths = forecast_paths(self._rows(), panel, origins, self.booster.predict, True)
            matrix = np.stack(paths.matrices, axis=1).reshape(len(o), -1)
            base, scale = paths.base.ravel(), paths.scale.ravel()
        else:
            matrix, base, scale = self._rows().design(panel, o, h)
        contrib = self.booster.predict(matrix, pred_contrib=True)
        out = pd.DataFrame(contrib, columns=[*self.feature_names(), "bias"])
        out.insert(0, "series_id", panel.ids[panel.series[o]])
        out.insert(1, "horizon_step", h)
        return out.assign(base=base, scale=scale, log_target=self.log_target)

    # --- rows ----------------------------------------------------------------------------------
    def _clean(
        self, frame: pd.DataFrame, spec: ForecastSpec, validated: bool = False
    ) -> pd.DataFrame:
        """Validated, without leading nulls. validated: the caller already did both
        (ml.frames.validate_training_frame, drop_leading_nulls), e.g. on a backtest window."""
        missing = [c for c in DBT_COLUMNS if c not in frame.columns]
        if missing:
            raise InvalidInputError(
                f"lightgbm reads the dbt feature columns; the frame lacks {missing}. Train it "
                "from marts.fct_training_features (the ml/backtests and ml/trained_model assets "
                "do)."
            )
        if validated:
            return frame
        return drop_leading_nulls(validate_training_frame(frame, spec.freq))

    def feature_names(self) -> tuple[str, ...]:
        """The booster's input columns (they follow the spec's declared seasons)."""
        return feature_names(self.spec)

    def _rows(self) -> DirectRows:
        c = self.config
        return DirectRows(
            self.spec,
            c.train_history,
            c.max_train_rows,
            c.seed,
            self.log_target,
            one_step=c.strategy == "recursive",
        )

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

    def _dataset(self, matrix: np.ndarray, target: np.ndarray, reference=None):
        return _lightgbm().Dataset(
            matrix,
            target,
            feature_name=list(self.feature_names()),
            reference=reference,
            free_raw_data=True,
        )

    def _train(self, matrix: np.ndarray, target: np.ndarray, rounds: int):
        """The final model: `rounds` rounds on every training row, no early stopping."""
        return _lightgbm().train(self._params(), self._dataset(matrix, target), rounds)

    def _calibrate(self, gathered: Gathered):
        """(booster, rounds for the final model, validation forecasts at the newest held-out
        origin); sets self.band.

        Trained on the rows whose targets end by the oldest held-out origin."""
        lgb = _lightgbm()
        train = self._dataset(*gathered.calibration.arrays())
        held = gathered.held_out()
        rows = self._rows()
        valid = self._dataset(
            held["matrix"], rows.target(held["actual"], held["base"], held["scale"]), train
        )
        booster = lgb.train(
            self._params(),
            train,
            self.config.max_rounds,
            valid_sets=[valid],
            callbacks=[lgb.early_stopping(self.config.early_stopping_rounds, verbose=False)],
        )
        rounds = max(1, booster.best_iteration or self.config.max_rounds)
        if self.config.strategy == "recursive":
            predict = partial(booster.predict, num_iteration=rounds)
            held = held_out_forecasts(rows, Origins.concat(gathered.recursive), predict)
        else:
            learned = booster.predict(held["matrix"], num_iteration=rounds)
            held["p50"] = rows.value(learned, held["base"], held["scale"])
        p50, scale = held["p50"], held["scale"]
        error = (held["actual"] - p50) / scale
        self.band = ResidualBand.fit(
            pd.DataFrame({"horizon_step": held["step"], "error": error}), self.spec.horizon
        )
        newest = held["origin_ts"] == held["origin_ts"].max()
        low, high = self.band.interval(p50[newest], held["step"][newest], scale[newest])
        validation = pd.DataFrame(
            {
                "series_id": held["series_id"][newest],
                "target_ts": held["target_ts"][newest],
                "actual": held["actual"][newest],
                "p10": low,
                "p50": p50[newest],
                "p90": high,
            }
        )
        # The final model sees more rows than the calibration model: a few more rounds.
        return booster, int(np.ceil(rounds * 1.1)), validation

    def _quantiles(self, booster, panel, origins, steps, rounds=None) -> dict:
        """p50 and the scale of (origin, step) rows."""
        rows = self._rows()
        matrix, base, scale = rows.design(panel, origins, steps)
        p50 = rows.value(booster.predict(matrix, num_iteration=rounds), base, scale)
        return {"p50": p50, "scale": scale}

    def _forecast(self, panel: Panel, origins: np.ndarray) -> pd.DataFrame:
        horizon = self.spec.horizon
        o = np.repeat(origins, horizon)
        h = np.tile(np.arange(1, horizon + 1), len(origins))
        if self.config.strategy == "recursive":
            paths = forecast_paths(self._rows(), panel, origins, self.booster.predict)
            quantiles = {"p50": paths.p50.ravel(), "scale": np.repeat(paths.origin_scale, horizon)}
        else:
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
        directory = write_config(
            directory,
            self,
            band=self.band.to_dict() if self.band else None,
            log_target=self.log_target,
            features=list(self.feature_names()),
        )
        self.booster.save_model(str(directory / "model.txt"))

    @classmethod
    def load(cls, directory: Path) -> LightGBMForecaster:
        lgb = _lightgbm()
        config = read_config(Path(directory))
        try:
            if config["forecaster"] != cls.name:
                raise ValueError(f"config is for {config['forecaster']!r}, not {cls.name!r}")
            forecaster = cls(LightGBMConfig(**config["config"]))
            forecaster.spec = ForecastSpec(**config["spec"])
            if config["features"] != list(forecaster.feature_names()):
                raise ValueError("the saved model uses other features than this version")
            band = config["band"]
            forecaster.band = band and ResidualBand.from_dict(band, forecaster.spec.horizon)
            forecaster.log_target = bool(config["log_target"])
            forecaster.booster = lgb.Booster(model_file=str(Path(directory) / "model.txt"))
        except (KeyError, TypeError, ValueError, lgb.basic.LightGBMError) as error:
            raise ArtifactError(f"LightGBM model in {directory} is invalid: {error}") from error
        if forecaster.booster.num_feature() != len(forecaster.feature_names()):
            raise ArtifactError(f"LightGBM model in {directory} has the wrong number of features.")
        return forecaster
