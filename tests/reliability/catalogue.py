"""The bad-input catalogue: raw data a real source produces, as separate series of one raw table.

Each case is a series (or a few rows) with a documented outcome (docs/reliability.md). Built
with pyarrow directly so NaN stays NaN and None stays null, as a source would deliver them.
"""

from __future__ import annotations

import datetime as dt
import math

import pyarrow as pa

START = dt.datetime(2015, 1, 1)
N_MONTHS = 60
LOADED = dt.datetime(2024, 1, 1)
HOSTILE_ID = 'Zürich\'s "Läden"; drop table raw.observations; -- ✓'
MIN_VALUE = 0.0


def month(i: int, day: int = 1) -> dt.datetime:
    months = START.month - 1 + i
    return dt.datetime(START.year + months // 12, months % 12 + 1, day)


def _season(i: int, level: float) -> float:
    return level + 10.0 * math.sin(2 * math.pi * i / 12) + (i % 5)


class RawBuilder:
    """Rows in the raw shape; each case appends its own series."""

    def __init__(self) -> None:
        self.rows: list[tuple] = []

    def add(self, series_id, ts, value, loaded_at=LOADED) -> None:
        self.rows.append((series_id, ts, value, loaded_at))

    def series(self, series_id: str, months=range(N_MONTHS), level: float = 100.0) -> None:
        for i in months:
            self.add(series_id, month(i), _season(i, level))

    def table(self) -> pa.Table:
        series_id, ts, value, loaded_at = zip(*self.rows, strict=True)
        return pa.table(
            {
                "series_id": pa.array(series_id, pa.string()),
                "ts": pa.array(ts, pa.timestamp("us")),
                "value": pa.array(value, pa.float64(), from_pandas=False),
                "loaded_at": pa.array(loaded_at, pa.timestamp("us")),
            }
        )


def catalogue() -> tuple[pa.Table, dict[str, str]]:
    """(raw table, {series_id: case}) for every case that can share one run."""
    raw, cases = RawBuilder(), {}

    def case(series_id: str, name: str) -> str:
        cases[series_id] = name
        return series_id

    raw.series(case("clean", "clean reference series"))
    raw.series(case("null_ts", "null timestamps"))
    raw.add("null_ts", None, 1.0)
    raw.add("null_ts", None, 2.0)
    raw.add(None, month(3), 5.0)  # null series_id: no series to belong to
    raw.series(case("null_values", "null values"), level=50.0)
    for i in (10, 11, 30):
        raw.add("null_values", month(i), None, LOADED + dt.timedelta(days=1))
    raw.series(case("duplicates", "duplicate (series_id, ts) with different values"))
    for i in (5, 6, 7):
        raw.add("duplicates", month(i), 999.0, LOADED - dt.timedelta(days=30))  # older load
    raw.add("duplicates", month(8), -1.0, LOADED)  # same load instant: larger value wins
    for i in range(N_MONTHS):
        day = 15 if i % 4 == 0 else 1
        raw.add(case("off_grain", "timestamps off the grain"), month(i, day), _season(i, 80.0))
    short = case("short", "series shorter than the model's window")
    raw.series(short, range(N_MONTHS - 6, N_MONTHS))
    raw.series(case("stops_early", "a series that stops early"), range(N_MONTHS - 18))
    for i in range(N_MONTHS):
        raw.add(case("constant", "constant series"), month(i), 5.0)
    raw.series(case("outlier", "extreme outliers"))
    raw.add("outlier", month(40), 1.0e9, LOADED + dt.timedelta(days=1))
    raw.series(case("negative", "negative values where none are allowed (min_value 0)"))
    for i in (20, 21):
        raw.add("negative", month(i), -50.0, LOADED + dt.timedelta(days=1))
    raw.series(case("non_finite", "non-finite values (NaN, Infinity)"))
    raw.add("non_finite", month(12), math.nan, LOADED + dt.timedelta(days=1))
    raw.add("non_finite", month(13), math.inf, LOADED + dt.timedelta(days=1))
    raw.series(case(HOSTILE_ID, "unicode and quote characters in series_id"), level=70.0)
    return raw.table(), cases
