"""Small validated configs grouped by concern; presets live in ml/presets/*.yaml as data."""

from __future__ import annotations

from functools import cache
from pathlib import Path

import yaml
from pydantic import BaseModel, ConfigDict, Field, model_validator

PRESETS_DIR = Path(__file__).with_name("presets")
QUANTILES = (0.1, 0.5, 0.9)


class _Frozen(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class ForecastSpec(_Frozen):
    """What to forecast: how far, on which grid, with which seasonality."""

    horizon: int = Field(gt=0)
    freq: str = Field(description="pandas offset alias of the grid: MS, h, D, W-MON, ...")
    season_length: int = Field(gt=0, description="periods per season (12 monthly, 24 hourly)")


class TFTArchitecture(_Frozen):
    hidden_size: int = Field(16, gt=0)
    attention_head_size: int = Field(2, gt=0)
    dropout: float = Field(0.1, ge=0, lt=1)
    hidden_continuous_size: int = Field(8, gt=0)
    max_encoder_length: int = Field(36, gt=0)
    min_encoder_length: int = Field(12, gt=0)

    @model_validator(mode="after")
    def _encoder_bounds(self):
        if self.min_encoder_length > self.max_encoder_length:
            raise ValueError("min_encoder_length must not exceed max_encoder_length")
        return self


class TrainingConfig(_Frozen):
    max_epochs: int = Field(5, gt=0)
    batch_size: int = Field(128, gt=0)
    learning_rate: float = Field(0.01, gt=0)
    limit_train_batches: int | None = Field(30, gt=0, description="batches per epoch; None = all")
    gradient_clip_val: float = Field(0.1, gt=0)
    seed: int = 42
    num_workers: int = Field(0, ge=0)
    feature_columns: list[str] = Field(default_factory=list, description="extra unknown reals")


@cache
def _presets(family: str) -> dict:
    return yaml.safe_load((PRESETS_DIR / f"{family}.yaml").read_text())


def load_preset(name: str, family: str = "tft") -> tuple[TFTArchitecture, TrainingConfig]:
    presets = _presets(family)
    if name not in presets:
        raise ValueError(
            f"Unknown {family} preset {name!r}; choose one of {sorted(presets)} "
            f"(defined in {PRESETS_DIR / (family + '.yaml')})."
        )
    preset = presets[name]
    return TFTArchitecture(**preset.get("architecture", {})), TrainingConfig(
        **preset.get("training", {})
    )
