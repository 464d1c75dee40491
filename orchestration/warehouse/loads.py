"""Appending loads and the load log: one stamp a load, strictly later than every stamp before.

The incremental dbt models (dbt_project/macros/incremental.sql) take the raw rows loaded after
what they hold; that needs every load's loaded_at to be later than all before it and one
transaction per load, which `append_rows` guarantees. Every load through warecast is also
recorded in a small log table, so orchestration can tell a replace (full refresh) from an
append (incremental build).
"""

from __future__ import annotations

import uuid
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

import pyarrow as pa
import pyarrow.compute as pc

from orchestration.warehouse.columns import portable

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
        series = len(pc.unique(data.column("series_id"))) if "series_id" in data.column_names else 0
        return cls.sized(mode, loaded_at, data.num_rows, series)

    @classmethod
    def sized(cls, mode: str, loaded_at: datetime, row_count: int, series: int) -> LoadRecord:
        if hasattr(loaded_at, "to_pydatetime"):  # a pandas Timestamp
            loaded_at = loaded_at.to_pydatetime()
        return cls(uuid.uuid4().hex, mode, loaded_at, int(row_count), int(series))

    @classmethod
    def appended(cls, newest: datetime | None, data: pa.Table) -> LoadRecord:
        """Now, or just after the newest stamp already there: loads are strictly ordered."""
        return cls.of("append", next_stamp(newest), data)


def next_stamp(newest: datetime | None) -> datetime:
    """Now, or 1 microsecond after `newest` if that is later."""
    now = utc_now()
    if hasattr(newest, "to_pydatetime"):  # a pandas Timestamp
        newest = newest.to_pydatetime()
    if newest is not None and newest >= now:
        now = newest + timedelta(microseconds=1)
    return now


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

    def _append_step(
        self, s, schema, table, staged, data: pa.Table | pa.Schema, stamp, log_table, size=None
    ) -> LoadRecord:
        """size: (rows, series) of the staged rows when `data` is only their schema."""
        target = self._qualified(schema, table)
        newest = s.fetch_arrow(f"select max({self._quote(stamp)}) as newest from {target}")
        newest = newest.column(0)[0].as_py()
        if size is None:
            record = LoadRecord.appended(newest, data)
        else:
            record = LoadRecord.sized("append", next_stamp(newest), *size)
        names = data.names if isinstance(data, pa.Schema) else data.schema.names
        literal = f"cast('{record.loaded_at.isoformat(sep=' ')}' as timestamp)"
        cols = [self._quote(name) for name in names]
        values = [literal if name == stamp else self._quote(name) for name in names]
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

    def load_batches(
        self,
        schema: str,
        table: str,
        batches: Callable[[], Iterable[pa.Table]],
        mode: str,
        stamp: str,
        log_table: str | None = None,
    ) -> LoadRecord:
        """replace_table or append_rows (mode) for rows that arrive in batches, e.g. a Parquet
        file read a record batch at a time, so memory follows the batch, not the file.

        Every batch goes into a stage table `schema.incoming_*` (on the warehouse's disk;
        dropped at the end, or by drop_leftover_stage_tables after a crash); only when the last
        batch is in does one transaction replace (or append to) schema.table and record the
        load. A batch that raises (bad input) leaves schema.table exactly as it was. Replaced
        rows keep their `stamp` column; appended ones get one stamp, as append_rows does.
        """

        def write() -> LoadRecord:
            stage = f"incoming_{uuid.uuid4().hex[:12]}"
            with self.session() as s:
                try:
                    arrow_schema, rows, series = self._fill_stage(s, schema, stage, batches)
                    return self._from_stage(
                        s,
                        schema,
                        table,
                        stage,
                        arrow_schema,
                        (rows, series),
                        mode,
                        stamp,
                        log_table,
                    )
                finally:
                    s.rollback()
                    s.execute(f"drop table if exists {self._qualified(schema, stage)}")
                    s.commit()

        return self._retrying(write, f"load into {schema}.{table}")

    def _fill_stage(self, s, schema, stage, batches) -> tuple[pa.Schema, int, int]:
        """Each batch into schema.stage (created from the first): (schema, rows, series)."""
        target, arrow_schema, rows, ids = self._qualified(schema, stage), None, 0, set()
        for batch in batches():
            batch = portable(batch)
            if arrow_schema is None:
                arrow_schema = batch.schema
                self._ensure_table(s, schema, stage, arrow_schema, replace_if_different=False)
            elif batch.schema != arrow_schema:
                batch = batch.select(arrow_schema.names).cast(arrow_schema)
            staged = s.stage(batch)
            s.execute(self._insert_sql(target, staged, arrow_schema))
            s.execute(f"drop table if exists {staged}")
            s.commit()
            rows += batch.num_rows
            ids.update(pc.unique(batch.column("series_id")).to_pylist())
        if arrow_schema is None:
            raise ValueError("No batches to load.")
        return arrow_schema, rows, len(ids)

    def _from_stage(self, s, schema, table, stage, arrow_schema, size, mode, stamp, log_table):
        staged, target = self._qualified(schema, stage), self._qualified(schema, table)
        self._ensure_table(s, schema, table, arrow_schema, replace_if_different=mode == "replace")
        if log_table:
            self._ensure_table(s, schema, log_table, LOAD_LOG_SCHEMA, False)
        record: list[LoadRecord] = []
        if mode == "append":
            steps = [
                lambda: record.append(
                    self._append_step(
                        s, schema, table, staged, arrow_schema, stamp, log_table, size
                    )
                )
            ]
        else:
            record.append(LoadRecord.sized("replace", utc_now(), *size))
            steps = [f"delete from {target}", self._insert_sql(target, staged, arrow_schema)]
            if log_table:
                steps.append(self._log_sql(schema, log_table, record[0]))
        self._in_transaction(s, steps, lock_key=f"{schema}.{table}")
        return record[0]
