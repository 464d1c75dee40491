"""Small validated configs grouped by concern; presets live in ml/presets/*.yaml as data."""

from __future__ import annotations

from functools import cache
from pathlib import Path
from typing import Literal

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
    extra_seasons: tuple[int, ...] = Field(
        (), description="longer seasonal periods beside season_length (168: hourly data's week)"
    )
    short_window: int | None = Field(
        None,
        gt=0,
        description="the feature mart's var short_window (its *_short rolling columns): a "
        "recursive model computes those columns for the periods it forecasts",
    )

    @model_validator(mode="after")
    def _seasons_are_longer(self):
        if any(m <= self.season_length for m in self.extra_seasons):
            raise ValueError(
                f"extra_seasons {list(self.extra_seasons)} must each be longer than "
                f"season_length {self.season_length}"
            )
        return self

    @property
    def seasons(self) -> tuple[int, ...]:
        """Every declared seasonal period, shortest first."""
        return (self.season_length, *sorted(self.extra_seasons))


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


class StatsConfig(_Frozen):
    """statsforecast baselines: local models refitted on the history passed to predict()."""

    max_history: int | None = Field(
        240, gt=0, description="periods of each series' history the model sees; None = all"
    )
    season_lengths: list[int] | None = Field(
        None, description="several seasonal periods (MSTL), e.g. [24, 168]; None = the spec's"
    )
    n_jobs: int = Field(-1, description="processes; -1 = every core")
    approximation: bool = Field(True, description="AutoARIMA's fast approximate search")


class NeuralConfig(_Frozen):
    """Size, window and training of the networks on warecast's tensor path (LSTM, Informer,
    MLP). `ensemble` members are separate seeds; forecasts take the median of each quantile."""

    encoder_length: int = Field(24, gt=1, description="history steps each window conditions on")
    hidden_size: int = Field(16, gt=0)
    layers: int = Field(1, gt=0, description="LSTM layers / Informer encoder layers")
    heads: int = Field(2, gt=0)
    dropout: float = Field(0.0, ge=0, lt=1)
    sampling_factor: int = Field(5, gt=0, description="Informer ProbSparse factor c")
    label_length: int = Field(12, ge=0, description="Informer decoder start-token length")
    max_epochs: int = Field(5, gt=0)
    batches_per_epoch: int = Field(30, gt=0)
    batch_size: int = Field(128, gt=0)
    learning_rate: float = Field(0.005, gt=0)
    lr_schedule: Literal["constant", "onecycle"] = Field(
        "constant", description="onecycle: warm up to learning_rate, then anneal, per batch"
    )
    weight_decay: float = Field(0.01, ge=0, description="AdamW weight decay")
    gradient_clip_val: float = Field(1.0, gt=0)
    log_scale: bool = Field(
        False, description="model log1p(value) when every training value is >= 0 (else raw)"
    )
    early_stopping_patience: int | None = Field(
        None,
        gt=0,
        description="hold out each series' last horizon of the training part, keep the epoch "
        "with the best pinball loss there, stop after this many epochs without improvement",
    )
    refit: bool = Field(
        True, description="after early stopping, retrain on every window for the best epochs"
    )
    ensemble: int = Field(1, gt=0, description="networks trained with seeds seed, seed+1, ...")
    cpu_threads: int | None = Field(
        None, gt=0, description="torch CPU threads while training; None = torch's default"
    )
    seed: int = 42
    strategy: str = Field("auto", description="Lightning strategy, e.g. ddp for several devices")
    devices: int | str = Field(1, description="Lightning devices")
    accelerator: str = Field("auto", description="Lightning accelerator: auto, cpu, gpu")

    @model_validator(mode="after")
    def _consistent(self):
        if self.hidden_size % self.heads:
            raise ValueError("hidden_size must be a multiple of heads")
        if self.label_length > self.encoder_length:
            raise ValueError("label_length must not exceed encoder_length")
        return self


@cache
def _presets(family: str) -> dict:
    path = PRESETS_DIR / f"{family}.yaml"
    if not path.is_file():
        known = sorted(p.stem for p in PRESETS_DIR.glob("*.yaml"))
        raise ValueError(f"No preset file {path}; preset files: {known}.")
    return yaml.safe_load(path.read_text())


def family_preset(family: str, name: str) -> dict:
    """Preset `name` of a model family (ml/presets/<family>.yaml); the model validates it."""
    presets = _presets(family)
    if name not in presets:
        raise ValueError(
            f"Unknown {family} preset {name!r}; choose one of {sorted(presets)} "
            f"(defined in {PRESETS_DIR / (family + '.yaml')})."
        )
    return presets[name] or {}
