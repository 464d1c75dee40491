"""One warehouse interface; each adapter supplies only a session with a few primitives.

All bulk writes share one recipe, so every warehouse gets the same guarantees:
  1. DDL first (schema and table), outside the data transaction: Snowflake commits DDL implicitly.
  2. Stage the incoming Arrow table into a temporary table with the adapter's bulk path
     (DuckDB: Arrow scan, Snowflake: write_pandas). PostgreSQL stages only the keys of the
     partitions it replaces and later COPYs the rows straight into the table (_swap_steps).
  3. One transaction swaps the rows: readers see the old rows or the new, never a mix. It first
     takes the adapter's write lock for the table (PostgreSQL: a transaction-scoped advisory
     lock), so two runs writing the same table take turns and never interleave their rows.
A dropped connection or a busy DuckDB file is retried with backoff (orchestration/warehouse/
retry.py): every operation here is idempotent, and the server rolled the broken one back.
"""

from __future__ import annotations

import re
from abc import ABC, abstractmethod
from collections.abc import Callable, Iterator, Mapping, Sequence
from contextlib import AbstractContextManager, contextmanager
from pathlib import Path
from typing import ClassVar

import pyarrow as pa

from orchestration.warehouse.columns import WarehouseError, portable, sql_type
from orchestration.warehouse.identifiers import checked, qualified, quote
from orchestration.warehouse.loads import LOAD_LOG_SCHEMA, Appending, LoadRecord
from orchestration.warehouse.locks import (
    Waiting,
    default_lock_dir,
    file_lock,
    ignore,
    lock_file_name,
)
from orchestration.warehouse.retry import DEFAULT_DELAYS, with_backoff

# Session-private stage tables are named incoming_<12 hex>; see Session.stage.
STAGE_TABLE = re.compile(r"^incoming_[0-9a-f]{12}$", re.IGNORECASE)


def column_ddl(schema: pa.Schema, quote_name=quote) -> str:
    return ", ".join(f"{quote_name(f.name)} {sql_type(f.type)}" for f in schema)


class Session(ABC):
    """An open DB-API connection. Implementations keep their driver details private."""

    def __init__(self, con):
        self.con = con

    @abstractmethod
    def execute(self, sql: str) -> None: ...

    @abstractmethod
    def fetch_arrow(self, sql: str) -> pa.Table: ...

    @abstractmethod
    def stage(self, data: pa.Table) -> str:
        """Load `data` into a session-private table; return its (quoted) name."""

    @abstractmethod
    def columns(self, schema: str, table: str) -> list[str]:
        """Lower-cased column names of an existing table, [] if it does not exist."""

    def placeholder(self, position: int) -> str:
        """The driver's bound-parameter marker for the `position`-th value (1-based)."""
        return "?"

    def fetch_arrow_bound(self, sql: str, params: Sequence) -> pa.Table:
        """`fetch_arrow` with values bound to the placeholders, never pasted into the SQL."""
        raise NotImplementedError(f"{type(self).__name__} cannot bind parameters")

    def begin(self) -> None:  # noqa: B027 - a deliberate no-op default
        """Drivers with autocommit off open a transaction implicitly."""

    def lock_for_write(self, key: str) -> None:  # noqa: B027 - a deliberate no-op default
        """Inside the write transaction: wait until no other writer of `key` is in one.

        No-op where the warehouse already serializes writers (DuckDB: one writing process).
        """

    def schema_exists(self, schema: str) -> bool:
        """False when unknown: `create schema if not exists` then runs (needs CREATE rights)."""
        return False

    def commit(self) -> None:
        self.con.commit()

    def rollback(self) -> None:
        self.con.rollback()

    def close(self) -> None:
        self.con.close()


class CursorSession(Session):
    """A driver that runs each statement on a DB-API cursor (PostgreSQL's ADBC, Snowflake's
    connector): fetch_arrow is its fetch_arrow_bound with nothing bound."""

    def execute(self, sql: str) -> None:
        with self.con.cursor() as cur:
            cur.execute(sql)

    def fetch_arrow(self, sql: str) -> pa.Table:
        return self.fetch_arrow_bound(sql, ())


class Warehouse(Appending, ABC):
    """Bulk reads and atomic bulk writes of whole tables. Chosen by the profile's `type`."""

    adapter_type: ClassVar[str]
    # Waits between attempts after a transient error (dropped connection, busy DuckDB file).
    retry_delays: tuple[float, ...] = DEFAULT_DELAYS
    # How the warehouse folds unquoted identifiers (Snowflake: upper case), so names we quote
    # are the same objects dbt resolves.
    fold_case: ClassVar = staticmethod(str)
    _by_adapter: ClassVar[dict[str, type[Warehouse]]] = {}

    def __init_subclass__(cls, **kwargs):
        super().__init_subclass__(**kwargs)
        Warehouse._by_adapter[cls.adapter_type] = cls

    def __init__(self, profile: dict):
        self.profile = profile

    @classmethod
    def from_profile(cls, profile: dict) -> Warehouse:
        adapter = profile.get("type")
        if adapter not in cls._by_adapter:
            raise WarehouseError(
                f"No warehouse implementation for profile type {adapter!r}; "
                f"supported: {sorted(cls._by_adapter)}."
            )
        return cls._by_adapter[adapter](profile)

    @abstractmethod
    def _open(self) -> Session:
        """Connect; the session is closed by `session()`."""

    def is_transient(self, error: BaseException) -> bool:
        """True for errors worth retrying: the connection dropped, the database is restarting."""
        return False

    def _retrying(self, operation, what: str):
        return with_backoff(operation, self.is_transient, self.retry_delays, what)

    @contextmanager
    def session(self) -> Iterator[Session]:
        session = self._open()
        try:
            yield session
        finally:
            session.close()

    def exclusive(self, name: str, on_wait: Waiting = ignore) -> AbstractContextManager[None]:
        """Hold lock `name` across processes until the block ends (locks.py); `on_wait` is
        told once when another process holds it and this one waits.

        Default: a file lock under WARECAST_HOME/locks (one machine). PostgreSQL overrides it.
        """
        return file_lock(self.lock_path(name), name, on_wait)

    def lock_path(self, name: str) -> Path:
        return default_lock_dir() / lock_file_name(name)

    def _quote(self, name: str, what: str = "column name") -> str:
        return quote(self.fold_case(checked(name, what)), what)

    def _qualified(self, schema: str, table: str) -> str:
        return qualified(self.fold_case(schema), self.fold_case(table))

    # --- reads -------------------------------------------------------------------------------
    def read_table(self, schema: str, table: str) -> pa.Table:
        return self._retrying(lambda: self._read_table(schema, table), f"read {schema}.{table}")

    def _read_table(self, schema: str, table: str) -> pa.Table:
        with self.session() as s:
            if not s.columns(schema, table):
                raise WarehouseError(
                    f"Table {schema}.{table} does not exist on target "
                    f"{self.profile.get('target_name')!r}: materialize its upstream assets first."
                )
            return s.fetch_arrow(f"select * from {self._qualified(schema, table)}")

    def read_where(
        self,
        schema: str,
        table: str,
        equals: Mapping[str, object],
        columns: Sequence[str] | None = None,
    ) -> pa.Table:
        """Rows of schema.table whose columns equal the given values (quick looks by key).

        Identifiers are validated and quoted; the values are bound parameters.
        """
        names = list(equals)
        where = " and ".join(
            f"{self._quote(name)} = {{p{i}}}" for i, name in enumerate(names, start=1)
        )
        select = ", ".join(self._quote(c) for c in columns) if columns else "*"
        sql = f"select {select} from {{table}}" + (f" where {where}" if where else "")
        wanted = [*names, *(columns or [])]
        return self._bound_read(schema, table, sql, [equals[n] for n in names], wanted)

    def summarize(
        self,
        schema: str,
        table: str,
        group_by: Sequence[str] = (),
        count_distinct: Sequence[str] = (),
        newest: Sequence[str] = (),
        oldest: Sequence[str] = (),
    ) -> pa.Table:
        """row_count, <c>_distinct (count distinct), <c>_newest (max) and <c>_oldest (min) per
        group: one small read.

        For status lines without reading a whole table; identifiers are validated and quoted.
        """
        parts = [self._quote(c) for c in group_by] + [f"count(*) as {self._quote('row_count')}"]
        parts += [
            f"count(distinct {self._quote(c)}) as {self._quote(f'{c}_distinct')}"
            for c in count_distinct
        ]
        parts += [f"max({self._quote(c)}) as {self._quote(f'{c}_newest')}" for c in newest]
        parts += [f"min({self._quote(c)}) as {self._quote(f'{c}_oldest')}" for c in oldest]
        sql = f"select {', '.join(parts)} from {{table}}"
        if group_by:
            sql += " group by " + ", ".join(self._quote(c) for c in group_by)
        wanted = [*group_by, *count_distinct, *newest, *oldest]
        return self._bound_read(schema, table, sql, [], wanted)

    def _bound_read(
        self, schema: str, table: str, template: str, params: list, wanted: list[str]
    ) -> pa.Table:
        def read() -> pa.Table:
            with self.session() as s:
                existing = s.columns(schema, table)
                if not existing:
                    raise WarehouseError(
                        f"Table {schema}.{table} does not exist on target "
                        f"{self.profile.get('target_name')!r}: materialize it first "
                        "(`warecast run`)."
                    )
                unknown = [c for c in wanted if c.lower() not in existing]
                if unknown:
                    raise WarehouseError(f"{schema}.{table} has no column(s) {unknown}.")
                markers = {f"p{i}": s.placeholder(i) for i in range(1, len(params) + 1)}
                sql = template.format(table=self._qualified(schema, table), **markers)
                return s.fetch_arrow_bound(sql, params)

        return self._retrying(read, f"read {schema}.{table}")

    def table_exists(self, schema: str, table: str) -> bool:
        def exists() -> bool:
            with self.session() as s:
                return bool(s.columns(schema, table))

        return self._retrying(exists, f"look up {schema}.{table}")

    def leftover_stage_tables(self) -> list[str]:
        """Stage tables that outlived their session (schema.table); normally none.

        Stage tables are temporary, so the server drops them with the session, also when the
        process is killed. This finds any a driver or a crash left as ordinary tables.
        """
        sql = (
            "select table_catalog, table_schema, table_name from information_schema.tables "
            "where table_type = 'BASE TABLE'"
        )
        with self.session() as s:
            rows = s.fetch_arrow(sql).to_pylist()
        return [
            f"{row['table_schema']}.{row['table_name']}"
            for row in rows
            if STAGE_TABLE.match(row["table_name"]) and not _is_temporary(row)
        ]

    def drop_leftover_stage_tables(self) -> list[str]:
        """Drop what `leftover_stage_tables` finds (only warecast's own incoming_* tables)."""
        leftovers = self.leftover_stage_tables()
        with self.session() as s:
            for name in leftovers:
                schema, table = name.split(".", 1)
                s.execute(f"drop table if exists {qualified(schema, table)}")
            s.commit()
        return leftovers

    # --- writes ------------------------------------------------------------------------------
    def replace_table(
        self, schema: str, table: str, data: pa.Table, log: tuple[str, LoadRecord] | None = None
    ) -> int:
        """Atomically replace all rows of schema.table with `data` (created if missing).

        `log` (log table, record): also record the load in schema.<log table>, in the same
        transaction.
        """
        return self._swap(
            schema, table, portable(data), partition_by=None, replace_if_different=True, log=log
        )

    def replace_partitions(
        self, schema: str, table: str, data: pa.Table, partition_by: Sequence[str]
    ) -> int:
        """Atomically replace every partition (distinct `partition_by` values) present in `data`.

        Re-writing the same partitions never duplicates rows; other partitions are untouched.
        """
        return self._swap(schema, table, portable(data), partition_by, replace_if_different=False)

    # --- shared recipe -----------------------------------------------------------------------
    def _swap(
        self, schema, table, data: pa.Table, partition_by, replace_if_different, log=None
    ) -> int:
        def write() -> int:
            with self.session() as s:
                self._ensure_table(s, schema, table, data.schema, replace_if_different)
                steps = self._swap_steps(s, schema, table, data, partition_by)
                if log is not None:
                    log_table, record = log
                    self._ensure_table(s, schema, log_table, LOAD_LOG_SCHEMA, False)
                    steps.append(self._log_sql(schema, log_table, record))
                self._in_transaction(s, steps, lock_key=f"{schema}.{table}")
            return data.num_rows

        return self._retrying(write, f"write {schema}.{table}")

    def _swap_steps(
        self, s: Session, schema: str, table: str, data: pa.Table, partition_by
    ) -> list[Step]:
        """The write transaction's steps: stage every row once, delete what they replace, insert.

        Steps are SQL strings or callables, run in order after the write lock is taken.
        """
        target = self._qualified(schema, table)
        staged = s.stage(data)
        return [
            self._delete_sql(target, staged, partition_by),
            self._insert_sql(target, staged, data.schema),
        ]

    def _delete_sql(self, target: str, staged: str | None, partition_by) -> str:
        """Delete the rows of `target` that the staged rows' partitions replace (all if None)."""
        if partition_by is None:
            return f"delete from {target}"
        match = " and ".join(
            f"{target}.{self._quote(c)} = incoming.{self._quote(c)}" for c in partition_by
        )
        return (
            f"delete from {target} where exists (select 1 from {staged} as incoming where {match})"
        )

    def _insert_sql(self, target: str, staged: str, schema: pa.Schema) -> str:
        cols = ", ".join(self._quote(name) for name in schema.names)
        return f"insert into {target} ({cols}) select {cols} from {staged}"

    def _ensure_table(
        self, s: Session, schema: str, table: str, arrow_schema: pa.Schema, replace_if_different
    ) -> None:
        existing = s.columns(schema, table)
        wanted = [name.lower() for name in arrow_schema.names]
        if existing and sorted(existing) == sorted(wanted):
            return
        if existing and not replace_if_different:
            raise WarehouseError(
                f"{schema}.{table} has columns {existing}, but the rows to write have {wanted}. "
                "Migrate or rename the existing table; warecast does not alter it silently."
            )
        if not s.schema_exists(self.fold_case(schema)):
            # Only when missing: a least-privilege role owns its schema but may not create any.
            s.execute(f"create schema if not exists {self._quote(schema, 'schema name')}")
        if existing:
            # The shape changed (e.g. new covariates): dependants are rebuilt by dbt.
            s.execute(f"drop table {self._qualified(schema, table)} cascade")
        s.execute(
            f"create table {self._qualified(schema, table)} "
            f"({column_ddl(arrow_schema, self._quote)})"
        )
        s.commit()

    @staticmethod
    def _in_transaction(s: Session, steps: Sequence[Step], lock_key: str | None = None) -> None:
        s.begin()
        try:
            if lock_key:
                s.lock_for_write(lock_key)
            for step in steps:
                run_step(s, step)
            s.commit()
        except BaseException:
            s.rollback()
            raise


# A step of the write transaction: SQL to execute, or a callable doing a bulk load.
Step = str | Callable[[], None]


def run_step(s: Session, step: Step) -> None:
    if callable(step):
        step()
    else:
        s.execute(step)


def _is_temporary(row: dict) -> bool:
    # DuckDB lists temp tables in catalog "temp"; PostgreSQL in schema pg_temp_N.
    return (row["table_catalog"] or "").lower() == "temp" or row["table_schema"].startswith(
        "pg_temp"
    )
