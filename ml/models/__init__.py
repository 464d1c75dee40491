"""Registered forecasters: build any of them from a preset, load any saved one by its config."""

from __future__ import annotations

import importlib
from pathlib import Path
from typing import Any

from ml.config import family_preset
from ml.errors import ArtifactError
from ml.models.base import Forecaster, read_config

# name -> "module:Class"; imported lazily so a statsforecast user never imports torch.
MODELS = {
    "tft": "ml.models.tft:TFTForecaster",
    "deepar": "ml.models.deepar:DeepARForecaster",
    "nhits": "ml.models.nhits:NHiTSForecaster",
    "lstm": "ml.models.lstm:LSTMForecaster",
    "informer": "ml.models.informer:InformerForecaster",
    "mlp": "ml.models.mlp:MLPForecaster",
    "seasonal_naive": "ml.models.seasonal_naive:SeasonalNaiveForecaster",
    "auto_ets": "ml.models.auto_ets:AutoETSForecaster",
    "auto_arima": "ml.models.auto_arima:AutoARIMAForecaster",
    "mstl": "ml.models.mstl:MSTLForecaster",
    "auto_theta": "ml.models.auto_theta:AutoThetaForecaster",
    "lightgbm": "ml.models.lightgbm:LightGBMForecaster",
    "ensemble": "ml.models.ensemble:EnsembleForecaster",
}


def _import(target: str) -> type[Forecaster]:
    module, _, cls = target.partition(":")
    return getattr(importlib.import_module(module), cls)


def registry() -> dict[str, type[Forecaster]]:
    return {name: _import(target) for name, target in MODELS.items()}


def create_forecaster(name: str, preset: str = "small", **overrides: Any) -> Forecaster:
    """Any registered model from its YAML preset (ml/presets/<family>.yaml), fields overridable."""
    if name not in MODELS:
        raise ValueError(f"Unknown model {name!r}; registered: {sorted(MODELS)}.")
    cls = _import(MODELS[name])
    return cls.from_preset(family_preset(cls.preset_family, preset), **overrides)


def load_forecaster(directory: str | Path) -> Forecaster:
    kind = read_config(Path(directory)).get("forecaster")
    if kind not in MODELS:
        raise ArtifactError(f"Unknown forecaster {kind!r} in {directory}; known: {sorted(MODELS)}")
    return _import(MODELS[kind]).load(Path(directory))
