"""Appending loads and the load log: one stamp a load, strictly later than every stamp before.

The incremental dbt models (dbt_project/macros/incremental.sql) take the raw rows loaded after
what they hold; that needs every load's loaded_at to be later than all before it and one
transaction per load, which `append_rows` guarantees. Every load through warecast is also
recorded in a small log table, so orchestration can tell a replace (full refresh) from an
append (incremental build).
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

import pyarrow as pa
import pyarrow.compute as pc

# One row per load of a raw table (append_rows / replace_table with a log): what orchestration
# reads to tell a replace from an append (orchestration/assets/dbt.py).
LOAD_LOG_SCHEMA = pa.schema(
    [
        ("load_id", pa.string()),
        ("mode", pa.string()),
        ("loaded_at", pa.timestamp("us")),
        ("row_count", pa.int64()),
        ("series", pa.int64()),
    ]
)


def utc_now() -> datetime:
    return datetime.now(UTC).replace(tzinfo=None)


@dataclass(frozen=True)
class LoadRecord:
    """One load: its id, mode (replace | append), the loaded_at its rows carry, and its size."""

    load_id: str
    mode: str
    loaded_at: datetime
    row_count: int
    series: int

    @classmethod
    def of(cls, mode: str, loaded_at: datetime, data: pa.Table) -> LoadRecord:
        if hasattr(loaded_at, "to_pydatetime"):  # a pandas Timestamp
            loaded_at = loaded_at.to_pydatetime()
        series = len(pc.unique(data.column("series_id"))) if "series_id" in data.column_names else 0
        return cls(uuid.uuid4().hex, mode, loaded_at, data.num_rows, series)

    @classmethod
    def appended(cls, newest: datetime | None, data: pa.Table) -> LoadRecord:
        """Now, or just after the newest stamp already there: loads are strictly ordered."""
        now = utc_now()
        if hasattr(newest, "to_pydatetime"):  # a pandas Timestamp
            newest = newest.to_pydatetime()
        if newest is not None and newest >= now:
            now = newest + timedelta(microseconds=1)
        return cls.of("append", now, data)


class Appending:
    """append_rows for Warehouse (base.py); uses its session, quoting and transaction recipe."""

    def append_rows(
        self, schema: str, table: str, data: pa.Table, stamp: str, log_table: str | None = None
    ) -> LoadRecord:
        """Atomically add `data` to schema.table, every row stamped with one load time.

        The stamp (column `stamp`) is now, or 1 microsecond after the table's newest stamp if that
        is later, so loads are strictly ordered (the incremental dbt models' watermark relies on
        it). With `log_table`, the load is recorded in schema.log_table in the same transaction.
        A missing table is created; an existing one must have the same columns (a different
        shape raises before any write).
        """
        from orchestration.warehouse.base import portable

        data = portable(data)

        def write() -> LoadRecord:
            with self.session() as s:
                self._ensure_table(s, schema, table, data.schema, replace_if_different=False)
                if log_table:
                    self._ensure_table(s, schema, log_table, LOAD_LOG_SCHEMA, False)
                staged = s.stage(data)
                record: list[LoadRecord] = []
                steps = [
                    lambda: record.append(
                        self._append_step(s, schema, table, staged, data, stamp, log_table)
                    )
                ]
                self._in_transaction(s, steps, lock_key=f"{schema}.{table}")
            return record[0]

        return self._retrying(write, f"append to {schema}.{table}")

    def count_until(self, schema: str, table: str, stamp: str, until: datetime) -> int:
        """Rows of schema.table stamped at or before `until` (or not stamped): one small read."""
        name = self._quote(stamp)
        sql = (
            f"select count(*) as {self._quote('n')} from {{table}} "
            f"where {name} <= {{p1}} or {name} is null"
        )
        rows = self._bound_read(schema, table, sql, [until], [stamp]).to_pylist()
        return int(rows[0]["n"])

    def _append_step(self, s, schema, table, staged, data, stamp, log_table) -> LoadRecord:
        target = self._qualified(schema, table)
        newest = s.fetch_arrow(f"select max({self._quote(stamp)}) as newest from {target}")
        record = LoadRecord.appended(newest.column(0)[0].as_py(), data)
        literal = f"cast('{record.loaded_at.isoformat(sep=' ')}' as timestamp)"
        cols = [self._quote(name) for name in data.schema.names]
        values = [literal if name == stamp else self._quote(name) for name in data.schema.names]
        s.execute(
            f"insert into {target} ({', '.join(cols)}) select {', '.join(values)} from {staged}"
        )
        if log_table:
            s.execute(self._log_sql(schema, log_table, record))
        return record

    def _log_sql(self, schema: str, log_table: str, record: LoadRecord) -> str:
        cols = ", ".join(self._quote(name) for name in LOAD_LOG_SCHEMA.names)
        return (
            f"insert into {self._qualified(schema, log_table)} ({cols}) values "
            f"('{record.load_id}', '{record.mode}', "
            f"cast('{record.loaded_at.isoformat(sep=' ')}' as timestamp), "
            f"{int(record.row_count)}, {int(record.series)})"
        )
