"""Backtests and forecasts over batches of series, so memory follows the batch, not the table.

A batch is a frame of whole series (series_id, ts, value + the dbt feature columns); `batches()`
iterates every batch once and may be called again (orchestration/batched_reads.py reads them
from the warehouse, one series_id range at a time). How each model goes through them:

- **local** models (statsforecast: seasonal naive, AutoETS, MSTL, ...) are fitted per series
  anyway: every batch is backtested on its own, one pass for all of them and every cutoff;
  statsforecast spreads a batch's series over the cores (`n_jobs`).
- **global** models that train from batches (`fit_batches`, e.g. lightgbm: a seeded sample of
  rows per batch) fit once per cutoff over all batches. Those that take the batches one at a
  time (`start_batches`) are fed by the local models' pass, every cutoff at once, and forecast
  from the tail of each series their predict() reads, kept from that pass: one read and one
  validation of the table for the whole backtest. Others read it twice per cutoff.
- every other model (networks, ensembles) needs the whole table in memory: the batches are
  concatenated for it, as before; bounded memory does not cover them.

With one batch holding every series, the points equal ml.backtest.run_backtest's.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass, field

import pandas as pd

from ml.backtest import (
    POINT_COLUMNS,
    BacktestConfig,
    BacktestResult,
    Candidate,
    MemberReuse,
    Window,
    backtest_window,
    check_candidates,
    cutoff_dates,
    drop_empty_cutoffs,
    failed_at_cutoff,
    fell_back,
    run_backtest,
    score_candidate,
    score_forecast,
    summarize,
)
from ml.config import ForecastSpec
from ml.errors import InvalidInputError
from ml.frames import drop_leading_nulls, validate_training_frame
from ml.models.base import Forecaster
from ml.models.fallback import longest_series

Batches = Callable[[], Iterable[pd.DataFrame]]
LOCAL, BATCHED, WHOLE = "local", "batched", "whole"


def kind_of(model: Forecaster) -> str:
    """local (one model per series), batched (a global model trained from batches), or whole."""
    if model.fits_each_series:
        return LOCAL
    return BATCHED if callable(getattr(model, "fit_batches", None)) else WHOLE


@dataclass
class _Tally:
    parts: list[pd.DataFrame] = field(default_factory=list)
    seconds: dict[tuple[str, pd.Timestamp], float] = field(default_factory=dict)
    skipped: dict[pd.Timestamp, set[str]] = field(default_factory=dict)
    seen: set[pd.Timestamp] = field(default_factory=set)  # cutoffs with a series to forecast
    reuse: MemberReuse = field(default_factory=MemberReuse)  # fits ensembles combine

    def time(self, name: str, cutoff: pd.Timestamp, seconds: float) -> None:
        self.seconds[name, cutoff] = self.seconds.get((name, cutoff), 0.0) + seconds


def run_backtest_batched(
    batches: Batches,
    spec: ForecastSpec,
    candidates: Sequence[Candidate],
    config: BacktestConfig,
    last_ts: pd.Timestamp,
    n_series: int,
    feature_columns: Sequence[str] = (),
    on_fitted: Callable[[str, pd.Timestamp, float], None] | None = None,
) -> BacktestResult:
    """run_backtest over batches of series. last_ts: the newest ts of all of them (the cutoffs
    step back from it); n_series: how many series the batches hold (global models' sampling)."""
    check_candidates(candidates)
    if last_ts is None or pd.isna(last_ts) or not n_series:
        raise InvalidInputError("Input frame is empty: there is nothing to train on.")
    cutoffs = cutoff_dates(pd.Timestamp(last_ts), spec, config)
    kinds = {c.name: kind_of(c.build()) for c in candidates}
    by_kind = {k: [c for c in candidates if kinds[c.name] == k] for k in (LOCAL, BATCHED, WHOLE)}
    tally = _Tally(reuse=MemberReuse.plan(candidates))
    columns = list(feature_columns)
    fed = [c for c in by_kind[BATCHED] if _streams(c.build())]
    if by_kind[LOCAL] or fed:
        fits = [_Fed(c, spec, cutoff, n_series) for c in fed for cutoff in cutoffs]
        _one_pass(batches, spec, by_kind[LOCAL], fits, cutoffs, columns, tally)
        for fit in fits:
            if not fit.finish(tally):  # log scale guessed wrong: its own two passes
                _global_fit(batches, spec, fit.candidate, fit.cutoff, n_series, columns, tally)
    for candidate in [c for c in by_kind[BATCHED] if c not in fed]:
        for cutoff in cutoffs:
            _global_fit(batches, spec, candidate, cutoff, n_series, columns, tally)
    warn = not by_kind[WHOLE]  # else run_backtest already warned about the cutoffs it dropped
    if by_kind[WHOLE]:
        whole = pd.concat(list(batches()), ignore_index=True)
        result = run_backtest(whole, spec, by_kind[WHOLE], config, columns, tally.time, tally.reuse)
        tally.parts.append(result.points)
        tally.seen.update(result.cutoffs)
        for cutoff, skipped in result.skipped_series.items():
            tally.skipped.setdefault(cutoff, set()).update(skipped)
    empty = [c for c in cutoffs if c not in tally.seen]
    dropped = drop_empty_cutoffs(empty, cutoffs, config, warn)
    if on_fitted:
        for (name, cutoff), seconds in tally.seconds.items():
            on_fitted(name, cutoff, seconds)
    points = pd.concat(tally.parts, ignore_index=True)[POINT_COLUMNS]
    totals = {c.name: 0.0 for c in candidates}
    for (name, _), seconds in tally.seconds.items():
        totals[name] += seconds
    return BacktestResult(
        points=points,
        summary=summarize(points, totals),
        cutoffs=[c for c in cutoffs if c not in dropped],
        skipped_series={c: sorted(s) for c, s in tally.skipped.items() if s and c not in dropped},
        dropped_cutoffs=dropped,
    )


def _windows(
    batches: Batches, spec: ForecastSpec, cutoff: pd.Timestamp, columns: list[str], tally: _Tally
) -> Iterator[Window]:
    """The window at `cutoff` of every batch that has a series to forecast there."""
    for frame in batches():
        clean = drop_leading_nulls(validate_training_frame(frame, spec.freq, columns))
        window = backtest_window(clean, cutoff, spec)
        tally.skipped.setdefault(cutoff, set()).update(window.skipped)
        if not window.history.empty:
            tally.seen.add(cutoff)
            yield window


def _streams(model: Forecaster) -> bool:
    return callable(getattr(model, "start_batches", None))


class _Fed:
    """A global model's fit at one cutoff, fed each batch's window by the one pass; the tails
    of the windows (what its predict() reads, with the actuals and MASE scales) kept to
    forecast once it is trained."""

    def __init__(self, candidate: Candidate, spec: ForecastSpec, cutoff, n_series: int):
        self.candidate, self.cutoff, self.seconds = candidate, cutoff, 0.0
        self.model = candidate.build()
        self.fitting = self.model.start_batches(
            spec, n_series, cutoff, False, self.model.config.log_target
        )
        self.tail = history_needed(self.model)
        self.windows: list[Window] = []
        self.ok = True
        self.longest = 0  # periods of the longest series fed: below min_history, no fit

    def add(self, window: Window) -> None:
        started = time.perf_counter()
        if self.ok:
            self.ok = self.fitting.add(window.history, validated=True)
        history = window.history
        self.longest = max(self.longest, longest_series(history))
        if self.tail is not None:
            history = history.groupby("series_id", sort=False).tail(self.tail)
        self.windows.append(Window(window.cutoff, history, window.actuals, window.scale, []))
        self.seconds += time.perf_counter() - started

    def finish(self, tally: _Tally) -> bool:
        """Train, forecast every kept window, score; False (nothing done) if add() refused."""
        if not self.ok:
            return False
        started = time.perf_counter()
        candidate, spec = self.candidate, self.model.spec
        fits = self.longest >= self.model.min_history(spec, validate=False)
        try:
            if fits:
                self.fitting.finish()
        except Exception as error:
            raise failed_at_cutoff(candidate, self.cutoff, error) from error
        held_out = self.fitting.held_out_forecasts if fits else None
        for window in self.windows:
            # Too short for the model at this cutoff: every series falls back (the tail kept
            # holds all of each such series: tails are longer than the model's minimum).
            forecast = (
                self.model.predict(window.history)
                if fits
                else fell_back(candidate, window, window.history, spec)
            )
            tally.parts.append(score_forecast(candidate, window, forecast))
            if fits:  # every batch's held-out forecasts come with the first window's part
                tally.reuse.keep(candidate, self.cutoff, _first(held_out), forecast)
                held_out = None
        self.windows = []
        tally.time(candidate.name, self.cutoff, self.seconds + time.perf_counter() - started)
        return True


def _one_pass(batches, spec, local, fits: list[_Fed], cutoffs, columns, tally: _Tally) -> None:
    """Each batch read and validated once: its window at every cutoff scored by every local
    model and fed to every streamed global fit at that cutoff."""
    for frame in batches():
        clean = drop_leading_nulls(validate_training_frame(frame, spec.freq, columns))
        for cutoff in cutoffs:
            window = backtest_window(clean, cutoff, spec)
            tally.skipped.setdefault(cutoff, set()).update(window.skipped)
            if window.history.empty:
                continue
            tally.seen.add(cutoff)
            for candidate in local:
                started = time.perf_counter()
                tally.parts.append(score_candidate(candidate, window, spec, tally.reuse))
                tally.time(candidate.name, cutoff, time.perf_counter() - started)
            for fit in fits:
                if fit.cutoff == cutoff:
                    fit.add(window)


def _global_fit(batches, spec, candidate, cutoff, n_series, columns, tally: _Tally) -> None:
    """Fit once on every batch's history up to the cutoff, then forecast batch by batch."""
    started = time.perf_counter()
    model = candidate.build()

    longest = [0]

    def histories() -> Iterator[pd.DataFrame]:
        for window in _windows(batches, spec, cutoff, columns, tally):
            longest[0] = max(longest[0], longest_series(window.history))
            yield window.history

    fits = True
    try:
        model.fit_batches(histories, spec, validate=False, n_series=n_series, newest=cutoff)
    except InvalidInputError as error:
        # The longest series is known only once read: below the declared minimum every
        # series falls back, as in run_backtest; otherwise the error is the model's.
        fits = longest[0] >= model.min_history(spec, validate=False)
        if fits:
            raise failed_at_cutoff(candidate, cutoff, error) from error
    except Exception as error:
        raise failed_at_cutoff(candidate, cutoff, error) from error
    for window in _windows(batches, spec, cutoff, columns, tally):
        forecast = (
            model.predict(window.history)
            if fits
            else fell_back(candidate, window, window.history, spec)
        )
        tally.parts.append(score_forecast(candidate, window, forecast))
    tally.time(candidate.name, cutoff, time.perf_counter() - started)


def history_needed(model: Forecaster) -> int | None:
    """The most recent periods per series the fitted model's predict() reads; None = all.

    Forecasting from only these rows gives the same forecasts, so a refresh reads a tail of
    each series, not its history."""
    return model.predict_history()


def predict_batched(model: Forecaster, batches: Batches) -> Iterator[pd.DataFrame]:
    """The model's forecasts, one batch of series at a time (any model: series are
    forecast independently once it is trained)."""
    for frame in batches():
        yield model.predict(frame)


def _first(held_out: pd.DataFrame | None) -> pd.DataFrame:
    return pd.DataFrame() if held_out is None else held_out
