"""Direct multi-horizon rows over marts.fct_training_features, for a global model.

A row is one (series, origin t, step h). It holds the columns dbt computed at the origin row
(value, lag_1, lag_season, rolling mean/std, calendar), the step, and more dbt values gathered
by row position:
- the target's period one season earlier (row t + h' - m with h' = (h - 1) mod m + 1, the
  seasonal-naive anchor), the season before that, and the origin's season mean one season
  earlier;
- for every longer declared season M (the spec's extra_seasons: 168 for hourly data's week),
  the target's period one M earlier: the target's seasonal lag at M, what a recursive model
  reads as lag M at the target (null where the series does not reach that far back);
- the target's calendar, read from the row one longest season before the target, which shares
  the target's position in every declared season (hour and weekday for 24 and 168, month for
  12): a tree learns "Mondays at 9" from it, not from the origin's calendar plus the step.
No statistic is computed here: dbt computes every feature, these rows only gather it.
Value-like columns are centred on the origin's rolling_mean_season
and divided by the series' scale there (or, on the log scale, are logs of ratios to it), so one
model serves series of very different sizes; the target is the value at t + h relative to the
anchor in the same units.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd

from ml.config import ForecastSpec
from ml.conformal import series_scale

# dbt columns read at the origin row (marts.fct_training_features' contract).
DBT_COLUMNS = (
    "value",
    "lag_1",
    "lag_season",
    "rolling_mean_short",
    "rolling_std_short",
    "rolling_mean_season",
    "rolling_std_season",
    "cal_quarter",
    "cal_month",
    "cal_day_of_week",
    "cal_hour",
)
RELATIVE = ("value", "lag_1", "lag_season", "rolling_mean_short")
SPREADS = ("rolling_std_short", "rolling_std_season")
CALENDAR = ("cal_quarter", "cal_month", "cal_day_of_week", "cal_hour")
TARGET_CALENDAR = tuple(f"target_{c.removeprefix('cal_')}" for c in CALENDAR)


def feature_names(spec: ForecastSpec) -> tuple[str, ...]:
    """The design matrix's columns, in order: they depend on the spec's declared seasons."""
    return (
        "step",
        *RELATIVE,
        *SPREADS,
        "anchor",
        "anchor_prev",
        "level_prev",
        *(f"anchor_{m}" for m in sorted(spec.extra_seasons)),
        "log_scale",
        *CALENDAR,
        *TARGET_CALENDAR,
    )


@dataclass
class Panel:
    """The feature table as arrays sorted by (series_id, ts); series s spans start[s]:end[s]."""

    ids: np.ndarray
    start: np.ndarray
    end: np.ndarray
    ts: np.ndarray
    columns: dict[str, np.ndarray]
    series: np.ndarray  # series index of every row

    @classmethod
    def build(cls, frame: pd.DataFrame) -> Panel:
        """frame: validated, sorted by (series_id, ts), with DBT_COLUMNS."""
        codes, ids = pd.factorize(frame["series_id"], sort=True)
        counts = np.bincount(codes, minlength=len(ids))
        end = np.cumsum(counts)
        columns = {c: frame[c].to_numpy(dtype="float64", na_value=np.nan) for c in DBT_COLUMNS}
        ts = frame["ts"].to_numpy()
        return cls(np.asarray(ids), end - counts, end, ts, columns, codes)

    def last_rows(self) -> np.ndarray:
        return self.end - 1


@dataclass(frozen=True)
class DirectRows:
    """Which (origin, step) rows exist, how they are sampled, and their feature matrix."""

    spec: ForecastSpec
    train_history: int | None = None  # only origins in each series' last N periods train
    max_rows: int = 400_000
    seed: int = 42
    log_scale: bool = False  # logs of ratios instead of centred, scaled differences
    one_step: bool = False  # only step 1 trains (a recursive model), not every step

    @property
    def train_steps(self) -> int:
        """The steps after an origin that make rows: 1, or the whole horizon."""
        return 1 if self.one_step else self.spec.horizon

    @property
    def look_back(self) -> int:
        """Rows an origin needs before it: two seasons for anchor_prev and level_prev."""
        return 2 * self.spec.season_length - 1

    @property
    def reach(self) -> int:
        """Rows before an origin any feature reads: the look-back, or the longest season's."""
        return max([self.look_back, *(m - 1 for m in self.spec.extra_seasons)])

    def origins(self, panel: Panel, mask: np.ndarray | None = None) -> np.ndarray:
        position = np.arange(len(panel.ts)) - panel.start[panel.series]
        ok = position >= self.look_back
        return np.flatnonzero(ok if mask is None else ok & mask)

    def steps_of(self, panel: Panel, origins: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Every step 1..train_steps of `origins` whose target row exists."""
        horizon = self.train_steps
        o = np.repeat(origins, horizon)
        h = np.tile(np.arange(1, horizon + 1), len(origins))
        inside = o + h < panel.end[panel.series[o]]
        return o[inside], h[inside]

    def train_origins(self, panel: Panel) -> np.ndarray:
        """Origins that may train, limited to each series' last train_history periods."""
        origins = self.origins(panel)
        if self.train_history:
            recent = panel.end[panel.series[origins]] - origins <= self.train_history
            origins = origins[recent]
        return origins

    def target_bound(self, panel: Panel, until: np.datetime64 | None = None) -> np.ndarray:
        """Per series, the first row no target may reach: its end, or its first row after
        `until` (the grid is regular and sorted, so the rows up to `until` come first)."""
        if until is None:
            return panel.end
        inside = np.bincount(panel.series[panel.ts <= until], minlength=len(panel.ids))
        return panel.start + inside

    def pair_counts(self, panel: Panel, origins: np.ndarray, bound: np.ndarray) -> np.ndarray:
        """How many steps 1..train_steps of each origin have a target row before `bound`."""
        limit = bound[panel.series[origins]]
        return np.clip(limit - origins - 1, 0, self.train_steps)

    def sample_pairs(
        self, origins: np.ndarray, counts: np.ndarray, budget: int, stream: int = 0
    ) -> tuple[np.ndarray, np.ndarray, int]:
        """(origins, steps, pairs in all): whole origins drawn at random, seeded, until about
        `budget` (origin, step) pairs; only the drawn ones are expanded, so memory follows the
        budget, not rows x horizon. stream > 0 (a later batch of series) draws independently."""
        keep = counts > 0
        origins, counts = origins[keep], counts[keep]
        total = int(counts.sum())
        if total > budget:
            rng = np.random.default_rng(self.seed if stream == 0 else (self.seed, stream))
            share = budget / total
            chosen = rng.choice(origins, size=max(1, int(len(origins) * share)), replace=False)
            pick = np.isin(origins, chosen)
            origins, counts = origins[pick], counts[pick]
        first = np.cumsum(counts) - counts
        o = np.repeat(origins, counts)
        h = np.arange(len(o)) - np.repeat(first, counts) + 1
        return o, h, total

    def validation_origins(
        self, panel: Panel, count: int, newest: np.datetime64 | None = None
    ) -> np.ndarray:
        """The `count` most recent origin timestamps with a whole horizon of actuals after.

        newest: the feature table's last ts when `panel` is one batch of its series."""
        offset = pd.tseries.frequencies.to_offset(self.spec.freq)
        last = pd.Timestamp(panel.ts.max() if newest is None else newest)
        newest_origin = last - self.spec.horizon * offset
        wanted = [newest_origin - k * offset for k in range(count)]
        usable = panel.ts[self.origins(panel)]
        return np.asarray([t for t in wanted if (usable == np.datetime64(t)).any()], "M8[ns]")

    def design(self, panel: Panel, origins: np.ndarray, steps: np.ndarray):
        """(features (n, F) float32, base (n,), scale (n,)): the model learns target_of(...)."""
        m, cols = self.spec.season_length, panel.columns
        level = cols["rolling_mean_season"][origins]
        scale = series_scale(level, cols["rolling_std_season"][origins])
        inside = (steps - 1) % m + 1  # the target's position within the season ahead

        def relative(values: np.ndarray) -> np.ndarray:
            if self.log_scale:
                return np.log(values) - np.log(level)
            return (values - level) / scale

        features = {"step": steps.astype("float64")}
        features |= {c: relative(cols[c][origins]) for c in RELATIVE}
        features |= {c: cols[c][origins] / scale for c in SPREADS}
        anchor = cols["value"][origins + inside - m]
        features["anchor"] = relative(anchor)
        features["anchor_prev"] = relative(cols["value"][origins + inside - 2 * m])
        features["level_prev"] = relative(cols["rolling_mean_season"][origins - m])
        first = panel.start[panel.series[origins]]
        calendar_row = origins + inside - m
        for longer in sorted(self.spec.extra_seasons):
            row = origins + (steps - 1) % longer + 1 - longer
            reached = row >= first
            features[f"anchor_{longer}"] = relative(_gather(cols["value"], row, reached))
            calendar_row = np.where(reached, row, calendar_row)
        features["log_scale"] = np.log(scale)
        features |= {c: cols[c][origins] for c in CALENDAR}
        features |= {
            t: cols[c][calendar_row] for c, t in zip(CALENDAR, TARGET_CALENDAR, strict=True)
        }
        names = feature_names(self.spec)
        matrix = np.column_stack([features[name] for name in names]).astype("float32")
        return matrix, anchor, scale

    def target(self, actual: np.ndarray, base: np.ndarray, scale: np.ndarray) -> np.ndarray:
        return np.log(actual / base) if self.log_scale else (actual - base) / scale

    def value(self, learned: np.ndarray, base: np.ndarray, scale: np.ndarray) -> np.ndarray:
        """The inverse of target(): a model's output back in the series' units."""
        return base * np.exp(learned) if self.log_scale else base + scale * learned


def _gather(column: np.ndarray, rows: np.ndarray, reached: np.ndarray) -> np.ndarray:
    """column[rows] where `reached`, else null (the row lies before the series' first)."""
    out = np.full(len(rows), np.nan)
    out[reached] = column[rows[reached]]
    return out
