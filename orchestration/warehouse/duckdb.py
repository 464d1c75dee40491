"""Embedded DuckDB: Arrow in and out with zero copies, one file on disk."""

from __future__ import annotations

import uuid
from pathlib import Path

import duckdb
import pyarrow as pa

from orchestration.warehouse.base import Session, Warehouse


class DuckDBSession(Session):
    def __init__(self, con: duckdb.DuckDBPyConnection):
        super().__init__(con)
        self._in_transaction = False

    def execute(self, sql: str) -> None:
        self.con.execute(sql)

    def fetch_arrow(self, sql: str) -> pa.Table:
        return self.con.sql(sql).to_arrow_table()

    def stage(self, data: pa.Table) -> str:
        name = f"incoming_{uuid.uuid4().hex[:12]}"
        # A temp table (not just a registered view) so the transaction reads a stable copy.
        self.con.register(f"{name}_arrow", data)
        self.con.execute(f'create temp table "{name}" as select * from "{name}_arrow"')
        self.con.unregister(f"{name}_arrow")
        return f'"{name}"'

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
    adapter_type = "duckdb"

    @property
    def path(self) -> Path:
        return Path(self.profile["path"])

    def _open(self) -> DuckDBSession:
        self.path.parent.mkdir(parents=True, exist_ok=True)
        return DuckDBSession(duckdb.connect(str(self.path)))
