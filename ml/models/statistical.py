"""statsforecast baselines: the shared half of seasonal naive, AutoETS, AutoARIMA and MSTL.

These are *local* models: each series gets its own model, fitted on the history passed to
predict() (at most `max_history` periods of it, so the slow automatic searches stay bounded).
fit() only validates and scores the held-out horizon; nothing learned needs storing, so save()
writes config.json alone. p10/p90 are statsforecast's 80 % prediction interval (level=[80]).
"""

from __future__ import annotations

import time
import warnings
from pathlib import Path
from typing import Any, ClassVar

import numpy as np
import pandas as pd

from ml.config import ForecastSpec, StatsConfig
from ml.errors import ArtifactError
from ml.frames import drop_leading_nulls, validate_training_frame
from ml.models.base import FORECAST_COLUMNS, FitReport, Forecaster, read_config, write_config
from ml.models.fallback import seasonal_naive_forecast
from ml.models.report import forecast_frame, holdout_report, unvalidated_report

LEVEL = 80


class StatsForecaster(Forecaster):
    supports_quantiles = True
    supports_covariates = False
    supports_gpu = False
    bounded_history = True
    fits_each_series = True
    holdout_changes_fit = False  # fit() only scores the held-out horizon; predict() refits
    preset_family: ClassVar[str] = "statistical"

    def __init__(self, config: StatsConfig | None = None):
        self.config = config or StatsConfig()
        self.spec: ForecastSpec | None = None

    @classmethod
    def from_preset(cls, preset: dict, **overrides: Any) -> StatsForecaster:
        return cls(StatsConfig(**{**preset, **overrides}))

    def predict_history(self) -> int | None:
        """predict() refits on each series' last max_history periods (all when unset)."""
        return self.config.max_history

    # --- what each model defines -------------------------------------------------------------
    def _model(self, spec: ForecastSpec):
        raise NotImplementedError

    def seasons(self, spec: ForecastSpec) -> list[int]:
        return list(self.config.season_lengths or [spec.season_length])

    def min_length(self, spec: ForecastSpec) -> int:
        """Shorter series get the labelled seasonal-naive fallback instead."""
        return 2 * max(self.seasons(spec)) + 1

    # --- the interface -------------------------------------------------------------------------
    def fit(self, frame: pd.DataFrame, spec: ForecastSpec, validate: bool = True) -> FitReport:
        self.spec = spec
        clean = drop_leading_nulls(validate_training_frame(frame, spec.freq))
        if not validate:  # local models: nothing to learn ahead of predict()
            return unvalidated_report(clean, 0.0, 0, 0)
        started = time.perf_counter()
        report = holdout_report(clean, spec, self._forecast, 0.0, 0, 0)
        report.train_seconds = time.perf_counter() - started
        return report

    def predict(self, frame: pd.DataFrame) -> pd.DataFrame:
        if self.spec is None:
            raise RuntimeError("Call fit() or load() before predict().")
        clean = drop_leading_nulls(validate_training_frame(frame, self.spec.freq))
        return self._forecast(clean)

    def _forecast(self, history: pd.DataFrame) -> pd.DataFrame:
        spec = self.spec
        if self.config.max_history:
            history = history.groupby("series_id", sort=False).tail(self.config.max_history)
        sizes = history.groupby("series_id")["ts"].transform("size")
        modelled = history[sizes >= self.min_length(spec)]
        parts = [self._statsforecast(modelled)] if not modelled.empty else []
        short = history[sizes < self.min_length(spec)]
        parts += [seasonal_naive_forecast(h, spec) for _, h in short.groupby("series_id")]
        if not parts:
            return pd.DataFrame(columns=FORECAST_COLUMNS)
        out = pd.concat(parts, ignore_index=True)
        return out.sort_values(["series_id", "horizon_step"], ignore_index=True)

    def _statsforecast(self, history: pd.DataFrame) -> pd.DataFrame:
        from statsforecast import StatsForecast

        model = self._model(self.spec)
        engine = StatsForecast(models=[model], freq=self.spec.freq, n_jobs=self.config.n_jobs)
        data = history.rename(columns={"series_id": "unique_id", "ts": "ds", "value": "y"})
        with warnings.catch_warnings():
            # AutoARIMA tries many orders; some candidates not converging is expected.
            warnings.filterwarnings("ignore", message="possible convergence problem")
            result = engine.forecast(
                h=self.spec.horizon, df=data[["unique_id", "ds", "y"]], level=[LEVEL]
            )
        result = result.sort_values(["unique_id", "ds"], kind="stable")
        alias = str(model)
        mean = result[alias].to_numpy()
        low = result.get(f"{alias}-lo-{LEVEL}", pd.Series(mean)).to_numpy()
        high = result.get(f"{alias}-hi-{LEVEL}", pd.Series(mean)).to_numpy()
        # No interval (a degenerate fit): the point forecast alone, never NaN bounds.
        low, high = np.where(np.isfinite(low), low, mean), np.where(np.isfinite(high), high, mean)
        stacked = np.stack([low, mean, high], axis=-1).reshape(-1, self.spec.horizon, 3)
        origins = history.groupby("series_id")["ts"].max()
        ids = result["unique_id"].astype(str).to_numpy()[:: self.spec.horizon]
        return forecast_frame(origins.loc[ids], stacked, self.spec, self.name)

    # --- persistence: configuration only ------------------------------------------------------
    def save(self, directory: Path) -> None:
        if self.spec is None:
            raise RuntimeError("Nothing to save: fit() first.")
        write_config(directory, self)

    @classmethod
    def load(cls, directory: Path) -> StatsForecaster:
        config = read_config(Path(directory))
        try:
            if config["forecaster"] != cls.name:
                raise ValueError(f"config is for {config['forecaster']!r}, not {cls.name!r}")
            forecaster = cls(StatsConfig(**config["config"]))
            forecaster.spec = ForecastSpec(**config["spec"])
        except (KeyError, TypeError, ValueError) as error:
            raise ArtifactError(f"Model config in {directory} is invalid: {error}") from error
        return forecaster
