"""Per-use-case presets (ml/presets/use_cases.yaml): grid, horizon, seasons, candidate models."""

from __future__ import annotations

from typing import Any

import pandas as pd
import yaml
from pydantic import BaseModel, ConfigDict, Field, field_validator

from ml.config import PRESETS_DIR, ForecastSpec

USE_CASES_FILE = PRESETS_DIR / "use_cases.yaml"


class Candidate(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    name: str
    preset: str = "small"
    overrides: dict[str, Any] = Field(default_factory=dict)


class UseCase(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    freq: str
    horizon: int = Field(gt=0)
    season_lengths: list[int] = Field(min_length=1, description="first = the main season")
    models: list[Candidate] = Field(min_length=1)

    @field_validator("freq")
    @classmethod
    def _offset(cls, freq: str) -> str:
        pd.tseries.frequencies.to_offset(freq)  # raises ValueError naming the alias
        return freq

    @property
    def spec(self) -> ForecastSpec:
        main, *longer = self.season_lengths
        return ForecastSpec(
            horizon=self.horizon, freq=self.freq, season_length=main, extra_seasons=tuple(longer)
        )

    def candidates(self) -> dict:
        """name -> unfitted Forecaster, each from its preset plus overrides."""
        from ml.models import create_forecaster

        return {c.name: create_forecaster(c.name, c.preset, **c.overrides) for c in self.models}


def use_case_names() -> list[str]:
    return sorted(yaml.safe_load(USE_CASES_FILE.read_text()))


def load_use_case(name: str) -> UseCase:
    cases = yaml.safe_load(USE_CASES_FILE.read_text())
    if name not in cases:
        raise ValueError(
            f"Unknown use case {name!r}; choose one of {sorted(cases)} ({USE_CASES_FILE})."
        )
    return UseCase(**cases[name])
