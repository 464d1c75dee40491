"""The feature table read in batches of whole series, so memory follows the batch, not the table.

One aggregate query lists the series (in the warehouse's own order, with their row counts, last
ts and value sum); consecutive series are grouped until a group holds about `batch_rows` rows
(env WARECAST_BATCH_ROWS, default 2,000,000: ~250 MB as a pandas frame of the feature columns).
Each batch is then one bound query: a series_id range for a run of consecutive series (zone
maps skip the rest on DuckDB), or a list of ids for a chosen subset (the series whose features
changed). Nothing is cached: every pass reads again; a read is the cheap part (docs/scaling.md).
"""

from __future__ import annotations

import os
from collections.abc import Iterator, Sequence

import pandas as pd

from orchestration.warehouse.base import Warehouse
from orchestration.warehouse.identifiers import qualified
from orchestration.warehouse.retry import with_backoff

BATCH_ROWS_ENV = "WARECAST_BATCH_ROWS"
DEFAULT_BATCH_ROWS = 2_000_000


def batch_rows() -> int:
    value = os.environ.get(BATCH_ROWS_ENV, "")
    try:
        rows = int(value) if value else DEFAULT_BATCH_ROWS
    except ValueError:
        rows = 0
    if rows <= 0:
        raise ValueError(
            f"{BATCH_ROWS_ENV}={value!r} is not a positive whole number of rows; unset it for "
            f"the default ({DEFAULT_BATCH_ROWS:,})."
        )
    return rows


def _relation(client: Warehouse, schema: str, table: str) -> str:
    return qualified(client.fold_case(schema), client.fold_case(table))


def _fetch(client: Warehouse, sql: str, params: Sequence = ()) -> pd.DataFrame:
    def read() -> pd.DataFrame:
        with client.session() as s:
            marked = sql.format(*(s.placeholder(i) for i in range(1, len(params) + 1)))
            return s.fetch_arrow_bound(marked, list(params)).to_pandas()

    return with_backoff(read, client.is_transient, client.retry_delays, "batched read")


def series_summary(client: Warehouse, schema: str, table: str) -> pd.DataFrame:
    """series_id, n_rows, last_ts, value_sum per series, in the warehouse's series_id order."""
    sql = (
        "select series_id, count(*) as n_rows, max(ts) as last_ts, sum(value) as value_sum, "
        "min(value) as value_min, max(value) as value_max "
        f"from {_relation(client, schema, table)} group by series_id order by series_id"
    )
    summary = _fetch(client, sql)
    summary.columns = [c.lower() for c in summary.columns]
    summary["series_id"] = summary["series_id"].astype(str)
    summary["n_rows"] = summary["n_rows"].astype("int64")
    summary["last_ts"] = pd.to_datetime(summary["last_ts"])
    for column in ("value_sum", "value_min", "value_max"):
        summary[column] = summary[column].astype("float64")
    return summary.reset_index(drop=True)


def value_range(summary: pd.DataFrame, series: pd.Series) -> pd.DataFrame:
    """Each series' smallest and largest value over its whole history, as two rows of
    (series_id, value): what the forecast checks compare with when the batch is only a tail."""
    rows = summary[summary["series_id"].isin(set(series))]
    return pd.DataFrame(
        {
            "series_id": pd.concat([rows["series_id"], rows["series_id"]], ignore_index=True),
            "value": pd.concat([rows["value_min"], rows["value_max"]], ignore_index=True),
        }
    )


def group_series(summary: pd.DataFrame, rows: int) -> list[list[str]]:
    """Consecutive series, in summary order, until a group reaches `rows` rows (a longer
    series is a group of its own)."""
    groups, current, filled = [], [], 0
    for sid, n in zip(summary["series_id"], summary["n_rows"], strict=True):
        if current and filled + n > rows:
            groups.append(current)
            current, filled = [], 0
        current.append(sid)
        filled += int(n)
    return groups + ([current] if current else [])


class SeriesBatches:
    """Callable: each call iterates the table's batches (frames of whole series), read anew.

    only: the series to read (e.g. those whose features changed); None = every series.
    tail: read only each series' last `tail` periods (of grid `freq`), e.g. what a fitted
    model's predict() needs; None = the whole history."""

    def __init__(
        self,
        client: Warehouse,
        schema: str,
        table: str,
        summary: pd.DataFrame | None = None,
        rows: int | None = None,
        only: set[str] | None = None,
        tail: int | None = None,
        freq: str | None = None,
    ):
        self.client, self.schema, self.table = client, schema, table
        self.summary = series_summary(client, schema, table) if summary is None else summary
        chosen = self.summary
        if only is not None:
            chosen = chosen[chosen["series_id"].isin(only)]
        self.subset = only is not None
        self.tail, self.freq = tail, freq
        if tail is not None and freq is None:
            raise ValueError("SeriesBatches(tail=...) needs the grid's freq.")
        sizes = chosen if tail is None else chosen.assign(n_rows=chosen["n_rows"].clip(upper=tail))
        self.groups = group_series(sizes, rows or batch_rows())
        self.n_series = len(chosen)
        self.n_rows = int(chosen["n_rows"].sum())
        self.last_ts = chosen["last_ts"].max() if len(chosen) else None

    def __call__(self) -> Iterator[pd.DataFrame]:
        for group in self.groups:
            yield self.read(group)

    def read(self, group: list[str]) -> pd.DataFrame:
        relation = _relation(self.client, self.schema, self.table)
        if self.subset:
            marks = ", ".join("{}" for _ in group)
            sql, params = f"select * from {relation} where series_id in ({marks})", list(group)
        else:
            sql = f"select * from {relation} where series_id >= {{}} and series_id <= {{}}"
            params = [group[0], group[-1]]
        if self.tail is not None:
            sql += " and ts >= {}"
            params.append(self._tail_start(group))
        frame = _fetch(self.client, sql, params)
        frame.columns = [c.lower() for c in frame.columns]
        inside = frame["series_id"].astype(str).isin(group)  # a range may hold others
        if not inside.all():
            frame = frame[inside]
        if self.tail is not None:
            frame = frame.sort_values(["series_id", "ts"]).groupby("series_id").tail(self.tail)
        return frame.reset_index(drop=True)

    def _tail_start(self, group: list[str]):
        """The earliest period any series of the group needs: one bound for the whole group."""
        last = self.summary.loc[self.summary["series_id"].isin(group), "last_ts"].min()
        offset = pd.tseries.frequencies.to_offset(self.freq)
        return (pd.Timestamp(last) - (self.tail - 1) * offset).to_pydatetime()
