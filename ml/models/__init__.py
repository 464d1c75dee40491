"""Registered forecasters, and loading any saved one by the name in its config.json."""

from __future__ import annotations

from pathlib import Path

from ml.errors import ArtifactError
from ml.models.base import Forecaster, read_config


def registry() -> dict[str, type[Forecaster]]:
    from ml.models.tft import TFTForecaster

    return {TFTForecaster.name: TFTForecaster}


def load_forecaster(directory: str | Path) -> Forecaster:
    kind = read_config(Path(directory)).get("forecaster")
    models = registry()
    if kind not in models:
        raise ArtifactError(f"Unknown forecaster {kind!r} in {directory}; known: {sorted(models)}")
    return models[kind].load(Path(directory))
