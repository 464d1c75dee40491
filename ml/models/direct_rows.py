"""Direct multi-horizon rows over marts.fct_training_features, for a global model.

A row is one (series, origin t, step h). It holds the columns dbt computed at the origin row
(value, lag_1, lag_season, rolling mean/std, calendar), the step, and three more dbt values
gathered by row position: the target's period one season earlier (row t + h' - m with
h' = (h - 1) mod m + 1, the seasonal-naive anchor), the season before that, and the origin's
season mean one season earlier. No statistic is computed here: dbt computes every feature,
these rows only gather it. Value-like columns are centred on the origin's rolling_mean_season
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
FEATURE_NAMES = (
    "step",
    *RELATIVE,
    *SPREADS,
    "anchor",
    "anchor_prev",
    "level_prev",
    "log_scale",
    *CALENDAR,
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

    @property
    def look_back(self) -> int:
        """Rows an origin needs before it: two seasons for anchor_prev and level_prev."""
        return 2 * self.spec.season_length - 1

    def origins(self, panel: Panel, mask: np.ndarray | None = None) -> np.ndarray:
        position = np.arange(len(panel.ts)) - panel.start[panel.series]
        ok = position >= self.look_back
        return np.flatnonzero(ok if mask is None else ok & mask)

    def steps_of(self, panel: Panel, origins: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Every step 1..horizon of `origins` whose target row exists."""
        horizon = self.spec.horizon
        o = np.repeat(origins, horizon)
        h = np.tile(np.arange(1, horizon + 1), len(origins))
        inside = o + h < panel.end[panel.series[o]]
        return o[inside], h[inside]

    def training_pairs(self, panel: Panel) -> tuple[np.ndarray, np.ndarray]:
        """Every (origin, step) with an observed target, origins limited by train_history."""
        origins = self.origins(panel)
        if self.train_history:
            recent = panel.end[panel.series[origins]] - origins <= self.train_history
            origins = origins[recent]
        return self.steps_of(panel, origins)

    def validation_origins(self, panel: Panel, count: int) -> np.ndarray:
        """The `count` most recent origin timestamps with a whole horizon of actuals after."""
        offset = pd.tseries.frequencies.to_offset(self.spec.freq)
        newest = pd.Timestamp(panel.ts.max()) - self.spec.horizon * offset
        wanted = [newest - k * offset for k in range(count)]
        usable = panel.ts[self.origins(panel)]
        return np.asarray([t for t in wanted if (usable == np.datetime64(t)).any()], "M8[ns]")

    def sample(self, origins: np.ndarray) -> np.ndarray:
        """Mask of rows: whole origins (all their steps) drawn at random up to max_rows."""
        if len(origins) <= self.max_rows:
            return np.ones(len(origins), dtype=bool)
        unique = np.unique(origins)
        share = self.max_rows / len(origins)
        rng = np.random.default_rng(self.seed)
        chosen = rng.choice(unique, size=max(1, int(len(unique) * share)), replace=False)
        return np.isin(origins, chosen)

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
        features["log_scale"] = np.log(scale)
        features |= {c: cols[c][origins] for c in CALENDAR}
        matrix = np.column_stack([features[name] for name in FEATURE_NAMES]).astype("float32")
        return matrix, anchor, scale

    def target(self, actual: np.ndarray, base: np.ndarray, scale: np.ndarray) -> np.ndarray:
        return np.log(actual / base) if self.log_scale else (actual - base) / scale

    def value(self, learned: np.ndarray, base: np.ndarray, scale: np.ndarray) -> np.ndarray:
        """The inverse of target(): a model's output back in the series' units."""
        return base * np.exp(learned) if self.log_scale else base + scale * learned
