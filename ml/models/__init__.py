"""Registered forecasters: build any of them from a preset, load any saved one by its config.

A family's module is imported only when that family is used, so a statistical or LightGBM
user never imports torch.
"""

from __future__ import annotations

import importlib
from collections.abc import Iterator, Mapping
from pathlib import Path
from typing import Any

from ml.config import family_preset
from ml.errors import ArtifactError
from ml.models.base import Forecaster, read_config

# name -> "module:Class", imported when first looked up.
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


class _Registry(Mapping[str, type[Forecaster]]):
    """Every registered name; looking one up imports that family's module (and no other)."""

    def __getitem__(self, name: str) -> type[Forecaster]:
        return _import(MODELS[name])

    def __iter__(self) -> Iterator[str]:
        return iter(MODELS)

    def __len__(self) -> int:
        return len(MODELS)


def registry() -> Mapping[str, type[Forecaster]]:
    """name -> forecaster class. Names and `in` need no import; a class is imported on lookup,
    so ask a family's capabilities (class attributes) without importing the others."""
    return _Registry()


def create_forecaster(name: str, preset: str = "small", **overrides: Any) -> Forecaster:
    """Any registered model from its YAML preset (ml/presets/<family>.yaml), fields overridable."""
    if name not in MODELS:
        raise ValueError(f"Unknown model {name!r}; registered: {sorted(MODELS)}.")
    cls = registry()[name]
    return cls.from_preset(family_preset(cls.preset_family, preset), **overrides)


def load_forecaster(directory: str | Path) -> Forecaster:
    kind = read_config(Path(directory)).get("forecaster")
    if kind not in MODELS:
        raise ArtifactError(f"Unknown forecaster {kind!r} in {directory}; known: {sorted(MODELS)}")
    return registry()[kind].load(Path(directory))
