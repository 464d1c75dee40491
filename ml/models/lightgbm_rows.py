"""The training rows of the global LightGBM, gathered one batch of series at a time, and the
fit that consumes them (BatchFitting).

Each batch (whole series, a Panel) contributes seeded samples of its (origin, step) pairs: its
share of `max_train_rows` for the final model and for the calibration model (targets up to the
oldest held-out origin), plus every held-out pair. Only the sampled pairs are expanded and only
their feature rows are kept (float32), so memory follows max_train_rows and the batch, not
rows x horizon. One batch of every series draws exactly what the unbatched model drew.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field

import numpy as np
import pandas as pd

from ml.errors import InvalidInputError
from ml.models.base import FitReport
from ml.models.direct_rows import DirectRows, Panel
from ml.models.recursive_rows import Origins
from ml.models.report import unvalidated_report, validation_report

# LightGBM cannot build a data set from a single row (bagging draws none of it).
MIN_ROWS = 2


@dataclass
class Design:
    """Feature rows (float32) and their learning targets, concatenated over batches."""

    parts: list[tuple[np.ndarray, np.ndarray]] = field(default_factory=list)
    n_rows: int = 0

    def add(self, rows: DirectRows, panel: Panel, origins: np.ndarray, steps: np.ndarray) -> None:
        matrix, base, scale = rows.design(panel, origins, steps)
        target = rows.target(panel.columns["value"][origins + steps], base, scale)
        self.parts.append((matrix, target))
        self.n_rows += len(origins)

    def arrays(self) -> tuple[np.ndarray, np.ndarray]:
        matrices = [m for m, _ in self.parts]
        targets = [t for _, t in self.parts]
        self.parts = []  # handed over: LightGBM copies them into its own bins
        return np.concatenate(matrices), np.concatenate(targets)


HELD_FIELDS = ("matrix", "base", "scale", "actual", "step", "origin_ts", "target_ts", "series_id")


@dataclass
class Gathered:
    """Everything fit() needs from the batches, and the first batch for the report."""

    train: Design = field(default_factory=Design)
    calibration: Design = field(default_factory=Design)
    held: dict[str, list[np.ndarray]] = field(default_factory=lambda: {k: [] for k in HELD_FIELDS})
    n_pairs: int = 0  # every (origin, step) pair that could train, before sampling
    n_series: int = 0
    first: pd.DataFrame | None = None  # the first batch's clean frame: the validation report
    validation_ts: np.ndarray | None = None
    recursive: list[Origins] = field(default_factory=list)  # one-step rows: held-out origins

    def add(
        self,
        rows: DirectRows,
        clean: pd.DataFrame,
        index: int,
        n_series: int | None,
        held_out_count: int,
        newest: np.datetime64 | None,
    ) -> None:
        panel = Panel.build(clean)
        self.n_series += len(panel.ids)
        budget = batch_budget(rows.max_rows, len(panel.ids), n_series)
        origins = rows.train_origins(panel)
        counts = rows.pair_counts(panel, origins, panel.end)
        o, h, total = rows.sample_pairs(origins, counts, budget, index)
        self.n_pairs += total
        self.train.add(rows, panel, o, h)
        val_ts = rows.validation_origins(panel, held_out_count, newest)
        if index == 0:
            self.first, self.validation_ts = clean, val_ts
        if not len(val_ts):
            return
        bound = rows.target_bound(panel, val_ts.min())
        o, h, _ = rows.sample_pairs(origins, rows.pair_counts(panel, origins, bound), budget, index)
        self.calibration.add(rows, panel, o, h)
        held_origins = rows.origins(panel, np.isin(panel.ts, val_ts))
        if rows.one_step:
            # Early stopping on the held-out periods' one-step rows; the band and the report
            # come from forecasting the held-out origins recursively.
            held_o, held_h = rows.steps_of(panel, rows.origins(panel, panel.ts >= val_ts.min()))
            cut = Origins.cut(panel, held_origins, rows.reach + 1, rows.spec.horizon)
            self.recursive.append(cut)
        else:
            held_o, held_h = rows.steps_of(panel, held_origins)
        matrix, base, scale = rows.design(panel, held_o, held_h)
        values = {
            "matrix": matrix,
            "base": base,
            "scale": scale,
            "actual": panel.columns["value"][held_o + held_h],
            "step": held_h,
            "origin_ts": panel.ts[held_o],
            "target_ts": panel.ts[held_o + held_h],
            "series_id": panel.ids[panel.series[held_o]],
        }
        for key, value in values.items():
            self.held[key].append(value)

    def held_out(self) -> dict[str, np.ndarray]:
        return {k: np.concatenate(v) for k, v in self.held.items() if v}


def batch_budget(max_rows: int, batch_series: int, n_series: int | None) -> int:
    """A batch's share of max_rows, by its share of the series (all of it for one batch)."""
    if n_series is None:
        return max_rows
    return max(1, round(max_rows * batch_series / max(n_series, batch_series)))


class BatchFitting:
    """One LightGBMForecaster fit fed a batch of whole series at a time (add), then finish().

    add() returns False when the log scale guessed from the first batch does not suit a later
    batch (a value <= 0): start again with log_target=False, as fit_batches does."""

    def __init__(self, model, spec, n_series, newest, validate: bool, log_target) -> None:
        model.spec = spec
        self.model, self.n_series, self.validate = model, n_series, validate
        self.wanted = log_target
        self.newest = None if newest is None else np.datetime64(pd.Timestamp(newest))
        self.gathered = Gathered()
        self.index = 0
        self.started = time.perf_counter()
        self.held_out_forecasts: pd.DataFrame | None = None

    def add(self, frame: pd.DataFrame, validated: bool = False) -> bool:
        """validated: the frame already went through validate_training_frame and
        drop_leading_nulls (a backtest window's history): not checked again."""
        model = self.model
        clean = model._clean(frame, model.spec, validated)
        positive = bool((clean["value"] > 0).all())
        if self.index == 0:
            model.log_target = positive if self.wanted is None else self.wanted
        if model.log_target and not positive:
            if self.wanted:
                raise InvalidInputError(
                    "lightgbm log_target needs every value > 0; set log_target: false "
                    "in its preset."
                )
            return False
        count = model.config.validation_origins
        self.gathered.add(model._rows(), clean, self.index, self.n_series, count, self.newest)
        if self.index == 0 and not self.validate:  # the report needs no rows: free the batch
            self.gathered.first = clean.iloc[:0]
        self.index += 1
        return True

    def finish(self) -> FitReport:
        model, gathered = self.model, self.gathered
        if gathered.train.n_rows < MIN_ROWS:
            raise InvalidInputError(
                f"lightgbm needs series longer than {model._rows().look_back + 1} periods with "
                "targets after them; none is. Use a statistical model or load more history."
            )
        enough = gathered.calibration.n_rows >= MIN_ROWS
        calibration = model._calibrate(gathered) if enough else None
        early, rounds, validation = calibration or (None, model.config.max_rounds // 4 or 1, None)
        if calibration is None:  # too little history to hold anything out: a point forecast
            model.band = None
        # Every batch's held-out forecasts (the report scores the first batch's alone).
        self.held_out_forecasts = validation
        n_sampled = gathered.train.n_rows
        if early is not None and not model.config.refit:
            model.booster, rounds = early, max(1, early.best_iteration or rounds)
            n_sampled = gathered.calibration.n_rows
        else:
            model.booster = model._train(*gathered.train.arrays(), rounds)
        seconds = time.perf_counter() - self.started
        first = gathered.first
        if not self.validate or validation is None:
            report = unvalidated_report(first, seconds, n_sampled, rounds)
        else:
            history = first[first["ts"] <= gathered.validation_ts.max()]
            validation = validation[validation["series_id"].isin(history["series_id"])]
            report = validation_report(
                first, history, validation, model.spec, seconds, gathered.n_pairs, rounds
            )
        report.n_series = gathered.n_series
        return report
