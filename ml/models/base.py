"""The one interface every forecaster implements."""

from __future__ import annotations

import json
from abc import ABC, abstractmethod
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, ClassVar

import pandas as pd

from ml.config import ForecastSpec

FORECAST_COLUMNS = [
    "series_id",
    "forecast_origin",
    "target_ts",
    "horizon_step",
    "p10",
    "p50",
    "p90",
    "method",
]


@dataclass
class FitReport:
    train_seconds: float
    n_series: int
    n_train_samples: int
    epochs: int
    val_mae: float
    val_mase: float
    val_coverage_80: float
    val_pinball: float
    baseline_val_mase: float
    validation_forecasts: pd.DataFrame = field(repr=False)

    def metrics(self) -> dict[str, float]:
        return {
            "train_seconds": self.train_seconds,
            "n_series": float(self.n_series),
            "n_train_samples": float(self.n_train_samples),
            "val_mae": self.val_mae,
            "val_mase": self.val_mase,
            "val_coverage_80": self.val_coverage_80,
            "val_pinball": self.val_pinball,
            "baseline_val_mase": self.baseline_val_mase,
        }


class Forecaster(ABC):
    """fit/predict validate input, then call the internals. Capabilities are class attributes."""

    name: ClassVar[str]
    supports_quantiles: ClassVar[bool] = True
    supports_covariates: ClassVar[bool] = False
    supports_gpu: ClassVar[bool] = False
    # Local models whose automatic search slows with length: backtests bound their history
    # (backtest.max_history_statistical), passed as their own `max_history`.
    bounded_history: ClassVar[bool] = False
    # Combinations that pass that bound on to their bounded members (max_history_statistical).
    forwards_history_bound: ClassVar[bool] = False
    # One model per series, fitted on that series alone (statsforecast): a batch of series fits
    # independently of the others, and one-step in-sample fitted values exist (MinT's covariance).
    fits_each_series: ClassVar[bool] = False
    # A combination of other registered families (its fitted `members`); combinations do not nest.
    combines_models: ClassVar[bool] = False
    # fit(validate=True) trains on less than fit(validate=False) (a network holds each series'
    # last horizon out of training), so the two forecast differently. Where it does not, a
    # backtest hands a candidate's forecasts and held-out report to an ensemble that lists the
    # same model, instead of the ensemble fitting it again.
    holdout_changes_fit: ClassVar[bool] = True
    # The function of ml/explain.py that splits its forecast into explanation rows, called as a
    # method (`model.explainer(history)`); None for a family that gives no explanation.
    explainer: ClassVar[Callable[..., pd.DataFrame] | None] = None
    preset_family: ClassVar[str]  # ml/presets/<family>.yaml

    def min_history(self, spec: ForecastSpec, validate: bool = True) -> int:
        """The fewest periods the longest series needs for fit(frame, spec, validate) to train:
        the one way a family declares its minimum (a method, as config such as a network's
        encoder sets it). Below it callers do not fit: the backtest, the batched backtest and
        the ensemble give every series the labelled seasonal-naive fallback
        (ml/models/fallback.py: can_fit, fallback_forecast). At or above it fit() trains, and
        predict() hands each series too short for the fitted model to that same fallback.
        1: fits any history (local models fall back per series)."""
        return 1

    def predict_history(self) -> int | None:
        """The most recent periods of a series the fitted model's predict() reads; None = all.
        Forecasting from only these rows gives the same forecasts."""
        return None

    def fit_history(self, spec: ForecastSpec) -> int | None:
        """The most recent periods of a series fit(frame, spec) reads; None = all. Training on
        only these rows fits the same model, so training can read a tail of each series."""
        return None

    def describe(self) -> str:
        """What makes this model's rows, for lineage: the family, or e.g. an ensemble's members."""
        return self.name

    @classmethod
    def from_preset(cls, preset: dict, **overrides: Any) -> Forecaster:
        """Build from a preset's raw dict; overrides replace single fields of it."""
        raise NotImplementedError

    @abstractmethod
    def fit(self, frame: pd.DataFrame, spec: ForecastSpec, validate: bool = True) -> FitReport:
        """Train. validate=False skips forecasting the held-out horizon for the report (its
        metrics are then NaN): a backtest that scores the model itself saves that time."""

    @abstractmethod
    def predict(self, frame: pd.DataFrame) -> pd.DataFrame:
        """`spec.horizon` steps after each series' last ts, columns FORECAST_COLUMNS."""

    @abstractmethod
    def save(self, directory: Path) -> None: ...

    @classmethod
    @abstractmethod
    def load(cls, directory: Path) -> Forecaster: ...


def write_config(
    directory: Path, forecaster: Forecaster, format_version: int = 1, **learned: Any
) -> Path:
    """Create `directory` and write its config.json: which forecaster, its format version,
    spec and config, plus what it learned as plain JSON (`learned`). Returns the directory."""
    directory = Path(directory)
    directory.mkdir(parents=True, exist_ok=True)
    body = {
        "forecaster": forecaster.name,
        "format_version": format_version,
        "spec": forecaster.spec.model_dump(),
        "config": forecaster.config.model_dump(),
        **learned,
    }
    (directory / "config.json").write_text(json.dumps(body, indent=1))
    return directory


def read_config(directory: Path) -> dict:
    from ml.errors import ArtifactError

    path = Path(directory) / "config.json"
    try:
        return json.loads(path.read_text())
    except (OSError, json.JSONDecodeError) as error:
        raise ArtifactError(f"Cannot read model config {path}: {error}") from error
