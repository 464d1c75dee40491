"""Ensemble: a combination of other registered families (the M4 lesson: combinations beat
almost every single method).

Members are listed as data (orchestration/pipelines.yaml overrides, or ml/presets/
ensemble.yaml): each a registered family and one of its presets. fit() trains every member on
the same frame; predict() combines their p10, p50 and p90 step by step, by median or mean.

Intervals are conformal (ml/conformal.py) when `calibrate` is on: every member is fitted with
validate=True, which forecasts each series' held-out last horizon from the rows before it; the
members' held-out p50s are combined like the forecasts, and the combination's normalised
residuals per step set the band placed around the combined p50. Saved as config.json plus one
folder per member in the member's own format.

Each member sees what it would see as a backtest candidate (its last `max_history` periods), so
a backtest hands the ensemble the fits of members that are candidates too (reuse(); ml.backtest.
MemberReuse) and the ensemble's forecasts are those it would make fitting them itself.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any, ClassVar, Literal

import numpy as np
import pandas as pd
from pydantic import BaseModel, ConfigDict, Field, field_validator

from ml.backtest import Candidate, ModelChoice, candidates_for
from ml.config import QUANTILES, ForecastSpec
from ml.conformal import ResidualBand, history_scale, residuals
from ml.errors import ArtifactError, InvalidInputError
from ml.frames import drop_leading_nulls, validate_training_frame
from ml.models.base import FORECAST_COLUMNS, FitReport, Forecaster, read_config, write_config
from ml.models.fallback import METHOD as FALLBACK_METHOD
from ml.models.fallback import can_fit
from ml.models.report import split_holdout, unvalidated_report, validation_report

QUANTILE_COLUMNS = [f"p{round(q * 100)}" for q in QUANTILES]


@dataclass(frozen=True)
class MemberFit:
    """A member's fit and forecast made elsewhere on the frame the ensemble gets (a backtest
    candidate's at the same cutoff): its held-out forecasts (FitReport.validation_forecasts of
    fit(validate=True)) and predict()'s forecast."""

    validation: pd.DataFrame
    forecast: pd.DataFrame
    n_samples: int = 0


class EnsembleConfig(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    members: list[ModelChoice] = Field(min_length=2, description="families combined")
    combine: Literal["median", "mean"] = "median"
    calibrate: bool = Field(True, description="conformal p10/p90 from the members' holdout")
    max_history_statistical: int | None = Field(
        None, gt=0, description="history bound passed to members with bounded_history"
    )

    @field_validator("members")
    @classmethod
    def _known_members(cls, members: list[ModelChoice]) -> list[ModelChoice]:
        from ml.models import registry

        models = registry()
        names = [m.name for m in members]
        unknown = sorted({n for n in names if n not in models or models[n].combines_models})
        if unknown:
            singles = sorted(n for n, cls in models.items() if not cls.combines_models)
            raise ValueError(
                f"ensemble members {unknown} are not registered families (ensembles do not "
                f"nest); choose from {singles}"
            )
        if len(set(names)) != len(names):
            raise ValueError(f"ensemble members listed twice: {names}")
        return members


class EnsembleForecaster(Forecaster):
    name = "ensemble"
    supports_quantiles = True
    supports_covariates = False
    supports_gpu = False
    forwards_history_bound = True
    combines_models = True
    preset_family: ClassVar[str] = "ensemble"

    def __init__(self, config: EnsembleConfig):
        self.config = config
        self.spec: ForecastSpec | None = None
        self.members: list[Forecaster] = []
        # Indices into config.members of the members fitted: a member whose declared minimum
        # (min_history) no series reaches is left out, and the others are combined.
        self.fitted: list[int] = []
        self.band: ResidualBand | None = None
        # Members fitted elsewhere on the frame of the next fit() and predict() (reuse()).
        self.replay: dict[int, MemberFit] = {}

    @classmethod
    def from_preset(cls, preset: dict, **overrides: Any) -> EnsembleForecaster:
        return cls(EnsembleConfig(**{**preset, **overrides}))

    def describe(self) -> str:
        """'median of auto_ets:small, auto_theta:small, lightgbm:small': what made each row,
        plus the members left out because the history was too short for them."""
        members = self.config.members
        fitted = self.fitted if self.members else range(len(members))
        names = ", ".join(f"{members[i].name}:{members[i].preset}" for i in fitted)
        left_out = [f"{m.name}:{m.preset}" for i, m in enumerate(members) if i not in fitted]
        note = f" ({', '.join(left_out)} left out: history too short)" if left_out else ""
        return f"{self.config.combine} of {names}{note}"

    def min_history(self, spec: ForecastSpec, validate: bool = True) -> int:
        """Fits when one member can: the others' series are left to those that fit."""
        held_out = self.config.calibrate or validate
        return min(c.build().min_history(spec, held_out) for c in self.member_candidates())

    def member_candidates(self) -> list[Candidate]:
        """The members as candidates, built like every model entry (ml.backtest.candidates_for):
        preset and overrides, bounded members at most max_history_statistical periods. Each member
        sees the frame as a backtest candidate would: its last `max_history` periods."""
        return candidates_for(self.config.members, self.config.max_history_statistical)

    def reuse(self, fits: dict[int, MemberFit]) -> None:
        """Members already fitted, by index into config.members, on exactly the frame the next
        fit() and predict() get (a backtest window): those calls combine these instead of
        fitting the members again. Only for members whose family's forecast does not depend on
        validate (holdout_changes_fit False): they are what fitting them here would give."""
        self.replay = dict(fits)

    # --- the interface -------------------------------------------------------------------------
    def fit(self, frame: pd.DataFrame, spec: ForecastSpec, validate: bool = True) -> FitReport:
        self.spec = spec
        started = time.perf_counter()
        held_out = self.config.calibrate or validate
        clean = drop_leading_nulls(validate_training_frame(frame, spec.freq))
        candidates = self.member_candidates()
        built = [c.build() for c in candidates]
        self.fitted = [
            i
            for i, m in enumerate(built)
            if can_fit(m, _seen_by(candidates[i], clean), spec, held_out)
        ]
        if not self.fitted:
            raise InvalidInputError(
                f"No ensemble member can fit: every series is shorter than "
                f"{self.min_history(spec, validate)} periods. Callers check min_history() first "
                "and fall back to seasonal naive."
            )
        self.members = [built[i] for i in self.fitted]
        validations, samples = [], 0
        for i, member in zip(self.fitted, self.members, strict=True):
            if i in self.replay:
                fit = self.replay[i]
            else:
                report = member.fit(_seen_by(candidates[i], clean), spec, validate=held_out)
                fit = MemberFit(report.validation_forecasts, pd.DataFrame(), report.n_train_samples)
            validations.append(fit.validation)
            samples += fit.n_samples
        frame = clean
        seconds = time.perf_counter() - started
        if not held_out:
            return unvalidated_report(frame, seconds, samples, 0)
        history, _ = split_holdout(frame, spec.horizon)
        validation = self._combine_validation(validations)
        scale = history_scale(history, spec.season_length)
        self.band = None
        if self.config.calibrate and not validation.empty:
            # No held-out residual (every series within a horizon or two of its start): the
            # members' own p10/p90 are combined instead.
            self.band = ResidualBand.fit(residuals(validation, scale), spec.horizon)
            validation = self.band.apply(validation, scale)
        if validation.empty or not validate:
            return unvalidated_report(frame, seconds, samples, 0)
        return validation_report(frame, history, validation, spec, seconds, samples, 0)

    def predict(self, frame: pd.DataFrame) -> pd.DataFrame:
        if self.spec is None or not self.members:
            raise RuntimeError("Call fit() or load() before predict().")
        clean = drop_leading_nulls(validate_training_frame(frame, self.spec.freq))
        candidates = self.member_candidates()
        forecasts = [
            self.replay[i].forecast
            if i in self.replay
            else m.predict(_seen_by(candidates[i], clean))
            for i, m in zip(self.fitted, self.members, strict=True)
        ]
        keys = ["series_id", "forecast_origin", "target_ts", "horizon_step"]
        combined = self._combine(forecasts, keys)
        # A series every member handed to its seasonal-naive fallback is labelled as such.
        fallback = combined.pop("all_fallback").to_numpy(dtype=bool)
        combined = combined.drop(columns="any_fallback")
        combined["method"] = np.where(fallback, FALLBACK_METHOD, self.name)
        if self.band is not None:
            banded = self.band.apply(combined, history_scale(clean, self.spec.season_length))
            combined.loc[~fallback, QUANTILE_COLUMNS] = banded.loc[~fallback, QUANTILE_COLUMNS]
        if self.replay:  # replayed members were never fitted here: nothing else to forecast
            self.spec, self.replay = None, {}
        return combined[FORECAST_COLUMNS].sort_values(
            ["series_id", "horizon_step"], ignore_index=True
        )

    # --- combining -----------------------------------------------------------------------------
    def _combine(self, frames: list[pd.DataFrame], keys: list[str]) -> pd.DataFrame:
        """Row-wise median/mean of each quantile over members, on rows every member made."""
        stacked = pd.concat(
            [
                f[keys + QUANTILE_COLUMNS].assign(
                    member=i,
                    fallback=f["method"] == FALLBACK_METHOD if "method" in f else False,
                )
                for i, f in enumerate(frames)
            ],
            ignore_index=True,
        )
        grouped = stacked.groupby(keys, sort=True)
        combined = grouped[QUANTILE_COLUMNS].agg(self.config.combine)
        combined["all_fallback"] = grouped["fallback"].all()
        combined["any_fallback"] = grouped["fallback"].any()
        complete = grouped["member"].nunique() == len(frames)
        combined = combined[complete.to_numpy()].reset_index()
        ordered = np.sort(combined[QUANTILE_COLUMNS].to_numpy(dtype="float64"), axis=1)
        combined[QUANTILE_COLUMNS] = ordered
        return combined

    def _combine_validation(self, frames: list[pd.DataFrame]) -> pd.DataFrame:
        """The held-out forecasts of the members that made any (a member trained on too little
        history to hold an origin out, e.g. lightgbm's calibration, makes none)."""
        keys = ["series_id", "target_ts"]
        frames = [f for f in frames if not f.empty]
        if not frames:
            return pd.DataFrame(columns=[*keys, "horizon_step", *QUANTILE_COLUMNS, "actual"])
        combined = self._combine(frames, keys)
        # Held-out rows a member could only fill with its seasonal-naive fallback (a series too
        # short once its last horizon is held out) are not what the full history will forecast:
        # their wider errors would widen every series' band. They calibrate only when nothing
        # else is there.
        partial = combined["any_fallback"].to_numpy(dtype=bool)
        if partial.any() and not partial.all():
            combined = combined[~partial]
        combined = combined.drop(columns=["all_fallback", "any_fallback"])
        actual = frames[0][[*keys, "actual"]]
        combined = combined.merge(actual, on=keys, how="inner")
        combined["horizon_step"] = combined.groupby("series_id").cumcount() + 1
        return combined

    # --- persistence: config.json + one folder per member ---------------------------------------
    def save(self, directory: Path) -> None:
        if self.spec is None or not self.members:
            raise RuntimeError("Nothing to save: fit() first.")
        band = self.band.to_dict() if self.band else None
        directory = write_config(directory, self, band=band, fitted=self.fitted)
        for index, member in zip(self.fitted, self.members, strict=True):
            member.save(directory / f"member_{index}_{member.name}")

    @classmethod
    def load(cls, directory: Path) -> EnsembleForecaster:
        from ml.models import load_forecaster

        directory = Path(directory)
        config = read_config(directory)
        try:
            if config["forecaster"] != cls.name:
                raise ValueError(f"config is for {config['forecaster']!r}, not {cls.name!r}")
            forecaster = cls(EnsembleConfig(**config["config"]))
            forecaster.spec = ForecastSpec(**config["spec"])
            band = config["band"]
            forecaster.band = band and ResidualBand.from_dict(band, forecaster.spec.horizon)
            # Saved before members could be left out: every member was fitted.
            fitted = config.get("fitted", list(range(len(forecaster.config.members))))
            choices = [forecaster.config.members[int(i)] for i in fitted]
            if not choices or sorted(set(fitted)) != list(fitted) or min(fitted) < 0:
                raise ValueError(f"fitted members {fitted} are not distinct, ordered indices")
        except (KeyError, TypeError, ValueError, IndexError) as error:
            raise ArtifactError(f"Ensemble config in {directory} is invalid: {error}") from error
        members = [
            load_forecaster(directory / f"member_{i}_{m.name}")
            for i, m in zip(fitted, choices, strict=True)
        ]
        if [m.name for m in members] != [m.name for m in choices]:
            raise ArtifactError(f"Ensemble members in {directory} do not match its config.")
        forecaster.members, forecaster.fitted = members, [int(i) for i in fitted]
        return forecaster


def _seen_by(candidate: Candidate, clean: pd.DataFrame) -> pd.DataFrame:
    """What a backtest candidate sees of a validated frame (sorted by series and ts, as
    ml.frames.validate_training_frame leaves it): each series' last max_history periods."""
    if not candidate.max_history:
        return clean
    return clean.groupby("series_id", sort=False).tail(candidate.max_history)
