"""Embedded DuckDB: Arrow in and out with zero copies, one file on disk."""

from __future__ import annotations

import uuid
from pathlib import Path

import duckdb
import pyarrow as pa

from orchestration.warehouse.base import Session, Warehouse, WarehouseError
from orchestration.warehouse.locks import lock_file_name


class DuckDBBusyError(WarehouseError):
    """The file is locked by another process; retried with backoff, then raised."""


class DuckDBSession(Session):
    def __init__(self, con: duckdb.DuckDBPyConnection):
        super().__init__(con)
        self._in_transaction = False

    def execute(self, sql: str) -> None:
        self.con.execute(sql)

    def fetch_arrow(self, sql: str) -> pa.Table:
        return self.con.sql(sql).to_arrow_table()

    def fetch_arrow_bound(self, sql: str, params) -> pa.Table:
        return self.con.sql(sql, params=list(params)).to_arrow_table()

    def stage(self, data: pa.Table) -> str:
        name = f"incoming_{uuid.uuid4().hex[:12]}"
        # A temp table (not just a registered view) so the transaction reads a stable copy.
        self.con.register(f"{name}_arrow", data)
        self.con.execute(f'create temp table "{name}" as select * from "{name}_arrow"')
        self.con.unregister(f"{name}_arrow")
        return f'"{name}"'

    def schema_exists(self, schema: str) -> bool:
        found = self.con.execute(
            "select 1 from information_schema.schemata where schema_name = ?", [schema]
        ).fetchall()
        return bool(found)

    def columns(self, schema: str, table: str) -> list[str]:
        rows = self.con.execute(
            "select lower(column_name) from information_schema.columns "
            "where table_schema = ? and table_name = ? order by ordinal_position",
            [schema, table],
        ).fetchall()
        return [r[0] for r in rows]

    def begin(self) -> None:
        self.con.execute("begin transaction")
        self._in_transaction = True

    def commit(self) -> None:
        # Outside an explicit transaction DuckDB's Python connection has already autocommitted.
        if self._in_transaction:
            self.con.execute("commit")
            self._in_transaction = False

    def rollback(self) -> None:
        if self._in_transaction:
            self.con.execute("rollback")
            self._in_transaction = False


class DuckDBWarehouse(Warehouse):
    """One writing process at a time (DuckDB's file lock): another process waits with backoff."""

    adapter_type = "duckdb"

    def is_transient(self, error: BaseException) -> bool:
        # Another process (dbt, a second run, a DuckDB shell) holds the file; it is released
        # when that process closes its connection.
        return isinstance(error, DuckDBBusyError) or (
            isinstance(error, duckdb.IOException) and "could not set lock" in str(error).lower()
        )

    @property
    def path(self) -> Path:
        return Path(self.profile["path"])

    def lock_path(self, name: str) -> Path:
        # Beside the database file: every process writing this file sees the same lock.
        return self.path.with_name(f"{self.path.name}.{lock_file_name(name)}")

    def _connect(self) -> duckdb.DuckDBPyConnection:
        """A connection with the profile's memory_limit, set as dbt-duckdb sets its `settings`:
        by SET after a connect with the default configuration. DuckDB keeps one instance per file
        per process and refuses a connect whose configuration differs from it, so a connect-time
        limit would fail wherever dbt already holds the file in this process (dbtRunner).
        Without a limit DuckDB grows to 80 % of RAM before it spills. Not the profile's other
        settings: preserve_insertion_order suits dbt's models, which order their windows
        themselves, not every reader of a table."""
        # read_only (the quick looks: status, leaderboard, forecasts): works on a read-only
        # WARECAST_HOME, and beside other readers.
        con = duckdb.connect(str(self.path), read_only=bool(self.profile.get("read_only")))
        limit = (self.profile.get("settings") or {}).get("memory_limit")
        if limit:
            try:
                con.execute("set memory_limit = ?", [str(limit)])
            except duckdb.Error:
                con.close()
                raise
        return con

    def _open(self) -> DuckDBSession:
        self.path.parent.mkdir(parents=True, exist_ok=True)
        try:
            return DuckDBSession(self._connect())
        except duckdb.IOException as error:
            if not self.is_transient(error):
                raise
            raise DuckDBBusyError(
                f"The DuckDB file {self.path} is in use by another process (another warecast "
                "run, `dagster dev` materializing, or a DuckDB shell). Wait for it to finish, "
                f"then re-run. ({error})"
            ) from error
