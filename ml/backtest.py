"""Rolling-origin backtests: every model refitted and scored on the same cutoffs.

For each cutoff c (the last period a model may see) and each series observed at c, a model is
fitted on the rows with ts <= c only and forecasts `horizon` steps; the rows after c give the
actuals beside the predictions. Cutoffs step back from the newest full horizon:

    c_k = last_ts - horizon periods,  c_(k-1) = c_k - step periods, ...

MASE divides each row's absolute error by the in-sample seasonal naive MAE of the series'
history up to its cutoff (the whole history, even when a model sees a bounded window of it).
"""

from __future__ import annotations

import json
import logging
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from functools import partial
from typing import Any

import numpy as np
import pandas as pd
from pydantic import BaseModel, ConfigDict, Field, field_validator

from ml.config import ForecastSpec
from ml.errors import InvalidInputError
from ml.evaluation import SUMMARY_METRICS, score_points, summarize_scores
from ml.frames import drop_leading_nulls, validate_training_frame
from ml.models.base import Forecaster
from ml.models.fallback import can_fit, fallback_forecast

POINT_COLUMNS = [
    "model",
    "preset",
    "cutoff",
    "series_id",
    "target_ts",
    "horizon_step",
    "actual",
    "p10",
    "p50",
    "p90",
    "method",
    "scale",
]
# A series needs a few periods before a cutoff to be forecast at all (models fall back below
# their own minimum, but one or two points give no scale and no forecast worth scoring).
MIN_HISTORY = 3
log = logging.getLogger(__name__)


class _Frozen(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class ModelChoice(_Frozen):
    """One model to compare: a registered family and one of its presets."""

    name: str = Field(description="registered forecaster, see ml.models.registry()")
    preset: str = "small"
    max_history: int | None = Field(
        None, gt=0, description="most recent periods this model sees; overrides the backtest's"
    )
    overrides: dict[str, Any] = Field(
        default_factory=dict, description="preset fields replaced, e.g. {season_lengths: [24, 168]}"
    )


class BacktestConfig(_Frozen):
    """How models are compared. Lives in orchestration/pipelines.yaml under `backtest:`."""

    cutoffs: int = Field(3, ge=1, le=50, description="number of forecast origins")
    step: int | None = Field(None, gt=0, description="periods between cutoffs; default horizon")
    metric: str = Field("mase", description="what picks the champion (lower error wins)")
    max_history_statistical: int | None = Field(
        None,
        gt=0,
        description="most recent periods statistical (CPU-only) models fit on: AutoARIMA/AutoETS "
        "at long seasons are slow, so their history is bounded. None = everything.",
    )

    @field_validator("metric")
    @classmethod
    def _known_metric(cls, metric: str) -> str:
        if metric not in SUMMARY_METRICS:
            raise ValueError(f"Unknown backtest metric {metric!r}; choose one of {SUMMARY_METRICS}")
        return metric


@dataclass(frozen=True)
class Candidate:
    """A model under test: `build()` returns a fresh, unfitted forecaster for every cutoff."""

    name: str
    preset: str
    build: Callable[[], Forecaster]
    max_history: int | None = None
    overrides: dict = field(default_factory=dict)  # what build() passes over the preset


def candidates_for(
    choices: Sequence[ModelChoice], max_history_statistical: int | None, listed_in: str = ""
) -> list[Candidate]:
    """The one way a list of model entries becomes candidates: each family from its preset and
    overrides; models with `bounded_history` see at most `max_history_statistical` periods (also
    their own max_history, so a preset cannot cut deeper); combinations that forward the bound
    pass it to their bounded members. An unknown family is a ValueError naming the known ones
    (and `listed_in`, where the entries come from)."""
    from ml.models import create_forecaster, registry

    models = registry()
    out = []
    for choice in choices:
        if choice.name not in models:
            raise ValueError(
                f"Model {choice.name!r}{' in ' + listed_in if listed_in else ''} is not "
                f"registered; registered: {sorted(models)}."
            )
        cls = models[choice.name]
        bound = choice.max_history or (max_history_statistical if cls.bounded_history else None)
        overrides = {"max_history": bound} if cls.bounded_history and bound else {}
        if cls.forwards_history_bound and max_history_statistical:
            overrides["max_history_statistical"] = max_history_statistical
        overrides |= choice.overrides
        build = partial(create_forecaster, choice.name, choice.preset, **overrides)
        out.append(Candidate(choice.name, choice.preset, build, bound, overrides))
    return out


@dataclass
class BacktestResult:
    points: pd.DataFrame  # POINT_COLUMNS: cutoff x series x horizon step x model
    summary: pd.DataFrame  # one row per model: SUMMARY_METRICS, counts, timings
    cutoffs: list[pd.Timestamp]  # the cutoffs scored (dropped ones excluded)
    skipped_series: dict[pd.Timestamp, list[str]] = field(default_factory=dict)
    # Cutoffs no series could be forecast at (too little history before them): not scored.
    dropped_cutoffs: list[pd.Timestamp] = field(default_factory=list)


def cutoff_dates(last_ts: pd.Timestamp, spec: ForecastSpec, config: BacktestConfig) -> list:
    """Oldest first; the newest leaves exactly one full horizon of actuals after it."""
    offset = pd.tseries.frequencies.to_offset(spec.freq)
    step = config.step or spec.horizon
    back = [spec.horizon + i * step for i in reversed(range(config.cutoffs))]
    return [pd.Timestamp(last_ts - n * offset) for n in back]


def run_backtest(
    frame: pd.DataFrame,
    spec: ForecastSpec,
    candidates: Sequence[Candidate],
    config: BacktestConfig,
    feature_columns: Sequence[str] = (),
    on_fitted: Callable[[str, pd.Timestamp, float], None] | None = None,
    reuse: MemberReuse | None = None,
) -> BacktestResult:
    """Score every candidate on the same cutoffs. frame: series_id, ts, value (+ features).

    on_fitted(model, cutoff, seconds) is called after each fit and forecast (a progress bar).
    Ensembles come last and combine the fits of members that are candidates too (MemberReuse;
    `reuse` holds fits made before this call, ml/batched.py's)."""
    check_candidates(candidates)
    reuse = reuse or MemberReuse.plan(candidates)
    clean = drop_leading_nulls(validate_training_frame(frame, spec.freq, list(feature_columns)))
    cutoffs = cutoff_dates(clean["ts"].max(), spec, config)
    windows = [backtest_window(clean, cutoff, spec) for cutoff in cutoffs]
    dropped = drop_empty_cutoffs([w.cutoff for w in windows if w.history.empty], cutoffs, config)
    windows = [w for w in windows if w.cutoff not in dropped]
    parts, seconds = [], {c.name: 0.0 for c in candidates}
    for candidate in sorted(candidates, key=lambda c: reuse.is_ensemble(c)):
        for window in windows:
            started = time.perf_counter()
            parts.append(score_candidate(candidate, window, spec, reuse))
            elapsed = time.perf_counter() - started
            seconds[candidate.name] += elapsed
            log.info("backtest %s at cutoff %s: %.1f s", candidate.name, window.cutoff, elapsed)
            if on_fitted:
                on_fitted(candidate.name, window.cutoff, elapsed)
    points = pd.concat(parts, ignore_index=True)[POINT_COLUMNS]
    return BacktestResult(
        points=points,
        summary=summarize(points, seconds),
        cutoffs=[w.cutoff for w in windows],
        skipped_series={w.cutoff: w.skipped for w in windows if w.skipped},
        dropped_cutoffs=dropped,
    )


@dataclass
class Window:
    cutoff: pd.Timestamp
    history: pd.DataFrame  # ts <= cutoff, eligible series only
    actuals: pd.DataFrame  # series_id, target_ts, actual: (cutoff, cutoff + horizon]
    scale: pd.Series  # seasonal naive in-sample MAE per series, history up to the cutoff
    skipped: list[str]


def backtest_window(frame: pd.DataFrame, cutoff: pd.Timestamp, spec: ForecastSpec) -> Window:
    offset = pd.tseries.frequencies.to_offset(spec.freq)
    end = cutoff + spec.horizon * offset
    # Masks first, then one copy of the rows kept (a batch holds millions of rows).
    ts, ids = frame["ts"], frame["series_id"]
    is_past = (ts <= cutoff).to_numpy()
    is_future = ((ts > cutoff) & (ts <= end)).to_numpy()
    sizes = ts[is_past].groupby(ids[is_past]).agg(["size", "max"])
    # Observed at the cutoff itself (so the forecast origin is the cutoff), long enough, and
    # with at least one actual to score against.
    ok = sizes[(sizes["max"] == cutoff) & (sizes["size"] >= MIN_HISTORY)].index
    eligible = ok.intersection(pd.Index(ids[is_future].unique()))
    skipped = sorted(set(ids.unique()) - set(eligible))
    kept = ids.isin(eligible).to_numpy()
    history = frame[is_past & kept].reset_index(drop=True)
    actuals = frame.loc[is_future & kept, ["series_id", "ts", "value"]]
    actuals = actuals.rename(columns={"ts": "target_ts", "value": "actual"})
    return Window(cutoff, history, actuals, _scales(history, spec.season_length), skipped)


def _scales(history: pd.DataFrame, season_length: int) -> pd.Series:
    """ml.evaluation.seasonal_naive_scale per series, vectorised (lag 1 for short series)."""
    grouped = history.groupby("series_id")["value"]
    sizes = grouped.transform("size")
    lag = np.where(sizes > season_length, season_length, 1)
    seasonal = (history["value"] - grouped.shift(season_length)).abs()
    first = (history["value"] - grouped.shift(1)).abs()
    diffs = pd.Series(np.where(lag == 1, first, seasonal), index=history.index)
    return diffs.groupby(history["series_id"]).mean()


def check_candidates(candidates: Sequence[Candidate]) -> None:
    if not candidates:
        raise InvalidInputError("No models to backtest: list some under `models:` in the config.")
    names = [c.name for c in candidates]
    duplicated = sorted({n for n in names if names.count(n) > 1})
    if duplicated:
        raise InvalidInputError(
            f"Model(s) {duplicated} listed twice: every model is compared once, with one preset."
        )


def drop_empty_cutoffs(
    empty: list, cutoffs: list, config: BacktestConfig, warn: bool = True
) -> list:
    """The cutoffs no series can be forecast at, each dropped with a one-line warning; stops
    with what to change when that leaves none (a short history should shorten the backtest,
    not end it: docs/reliability.md)."""
    if len(empty) == len(cutoffs):
        raise InvalidInputError(
            f"No series has {MIN_HISTORY}+ periods up to any cutoff ({config.cutoffs} cutoffs, "
            f"{config.step or 'horizon'} periods apart, the newest one horizon before the last "
            f"period, {cutoffs[-1]}). Lower `backtest.cutoffs` or `backtest.step`, shorten the "
            "horizon, or load more history."
        )
    for cutoff in empty if warn else ():
        log.warning(
            "Backtest cutoff %s dropped: no series has %d+ periods up to it and an actual after.",
            cutoff,
            MIN_HISTORY,
        )
    return list(empty)


def score_candidate(
    candidate: Candidate, window: Window, spec: ForecastSpec, reuse: MemberReuse | None = None
) -> pd.DataFrame:
    """Fit on the window's history, forecast, score. With `reuse`: a candidate an ensemble
    lists keeps its fit for it, and an ensemble combines the kept fits."""
    reuse = reuse or MemberReuse()
    history = window.history
    if candidate.max_history:
        history = history.groupby("series_id", sort=False).tail(candidate.max_history)
    model = candidate.build()
    if not can_fit(model, history, spec, validate=False):
        return score_forecast(candidate, window, fell_back(candidate, window, history, spec))
    reuse.prepare(candidate, model, window.cutoff)
    try:
        # validate=False unless an ensemble needs the held-out report: the backtest scores the
        # model itself.
        report = model.fit(history, spec, validate=reuse.validates(candidate))
        forecast = model.predict(history)
    except Exception as error:
        raise failed_at_cutoff(candidate, window.cutoff, error) from error
    reuse.keep(candidate, window.cutoff, report.validation_forecasts, forecast)
    return score_forecast(candidate, window, forecast)


@dataclass
class MemberReuse:
    """Ensembles among the candidates combine the backtest fits of their members that are
    candidates too (the same family, preset, overrides and history bound) instead of fitting
    them again: the ensemble's forecasts are the same (tests/ml/test_ensemble_reuse.py). Only
    members whose family forecasts the same with and without the held-out report
    (holdout_changes_fit False); such a candidate fits with it when an ensemble calibrates."""

    # candidate name -> [(ensemble name, member index)] and whether to fit it with validate
    wanted: dict[str, list[tuple[str, int]]] = field(default_factory=dict)
    validate: dict[str, bool] = field(default_factory=dict)
    kept: dict[tuple[str, pd.Timestamp], list] = field(default_factory=dict)

    @classmethod
    def plan(cls, candidates: Sequence[Candidate]) -> MemberReuse:
        from ml.models import registry

        models = registry()
        named = {_identity(c): c.name for c in candidates}
        reuse = cls()
        for ensemble in candidates:
            family = models.get(ensemble.name)  # tests may wrap a model under another name
            if family is None or not family.combines_models or ensemble.max_history:
                continue  # an ensemble on a shorter history gives its members another frame
            built = ensemble.build()
            for index, member in enumerate(built.member_candidates()):
                name = named.get(_identity(member))
                if name is None or models[name].holdout_changes_fit:
                    continue
                reuse.wanted.setdefault(name, []).append((ensemble.name, index))
                reuse.validate[name] = reuse.validate.get(name, False) or built.config.calibrate
        return reuse

    def is_ensemble(self, candidate: Candidate) -> bool:
        return any(e == candidate.name for users in self.wanted.values() for e, _ in users)

    def validates(self, candidate: Candidate) -> bool:
        return self.validate.get(candidate.name, False)

    def keep(self, candidate, cutoff, validation: pd.DataFrame, forecast: pd.DataFrame) -> None:
        """A wanted candidate's fit at a cutoff (one part per batch of series)."""
        if candidate.name in self.wanted:
            self.kept.setdefault((candidate.name, cutoff), []).append((validation, forecast))

    def prepare(self, candidate: Candidate, model: Forecaster, cutoff) -> None:
        """Hand an ensemble the kept fits of its members at this cutoff."""
        from ml.models.ensemble import MemberFit

        fits = {}
        for name, users in self.wanted.items():
            parts = self.kept.get((name, cutoff))
            for ensemble, index in users:
                if ensemble == candidate.name and parts:
                    validations, forecasts = zip(*parts, strict=True)
                    fits[index] = MemberFit(_stack(validations), _stack(forecasts))
        if fits:
            model.reuse(fits)


def _identity(candidate: Candidate) -> tuple:
    overrides = json.dumps(candidate.overrides, sort_keys=True, default=str)
    return candidate.name, candidate.preset, candidate.max_history, overrides


def _stack(frames) -> pd.DataFrame:
    frames = [f for f in frames if not f.empty]
    return pd.concat(frames, ignore_index=True) if frames else pd.DataFrame()


def fell_back(candidate: Candidate, window: Window, history: pd.DataFrame, spec: ForecastSpec):
    """Every series' labelled seasonal-naive fallback, for a model whose declared minimum
    (Forecaster.min_history) no series reaches at this cutoff: scored, counted in
    share_fallback, never a failure."""
    log.warning(
        "backtest %s at cutoff %s: every series is shorter than the model needs; "
        "seasonal-naive fallback for all of them",
        candidate.name,
        window.cutoff,
    )
    return fallback_forecast(history, spec)


def failed_at_cutoff(candidate: Candidate, cutoff: pd.Timestamp, error: Exception) -> RuntimeError:
    return RuntimeError(
        f"Model {candidate.name!r} (preset {candidate.preset!r}) failed at cutoff {cutoff}: {error}"
    )


def score_forecast(candidate: Candidate, window: Window, forecast: pd.DataFrame) -> pd.DataFrame:
    """The forecast beside the window's actuals, with the MASE scale: point rows."""
    _check_forecast(candidate, window, forecast)
    joined = forecast.merge(window.actuals, on=["series_id", "target_ts"], how="inner")
    joined["cutoff"] = window.cutoff
    joined["scale"] = joined["series_id"].map(window.scale).astype("float64")
    joined["model"], joined["preset"] = candidate.name, candidate.preset
    return joined


def _check_forecast(candidate: Candidate, window: Window, forecast: pd.DataFrame) -> None:
    wanted = set(window.history["series_id"].unique())
    missing = wanted - set(forecast["series_id"].unique())
    origins = pd.to_datetime(forecast["forecast_origin"])
    problems = []
    if missing:
        problems.append(f"no forecast for {len(missing)} series, e.g. {sorted(missing)[:3]}")
    if (origins != window.cutoff).any():
        problems.append("forecast origins other than the cutoff")
    if forecast[["p10", "p50", "p90"]].isna().any().any():
        problems.append("NaN quantiles")
    if problems:
        raise RuntimeError(
            f"Model {candidate.name!r} at cutoff {window.cutoff}: " + "; ".join(problems)
        )


def summarize(points: pd.DataFrame, fit_seconds: dict[str, float] | None = None) -> pd.DataFrame:
    """One row per model: every metric over all its cutoffs, series and horizon steps."""
    scores = score_points(points)
    rows = []
    for model, index in points.groupby("model", sort=True).groups.items():
        rows.append(
            {
                "model": model,
                "preset": points.loc[index, "preset"].iloc[0],
                "n_cutoffs": int(points.loc[index, "cutoff"].nunique()),
                "n_series": int(points.loc[index, "series_id"].nunique()),
                "n_points": len(index),
                **summarize_scores(scores.loc[index]),
                # Rows a model handed to its seasonal-naive fallback (series too short for it).
                "share_fallback": float((points.loc[index, "method"] != model).mean()),
                "fit_seconds": float((fit_seconds or {}).get(model, np.nan)),
            }
        )
    return pd.DataFrame(rows)
