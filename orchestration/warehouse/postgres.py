"""PostgreSQL through ADBC: reads with binary COPY into Arrow, writes with binary COPY (ingest)."""

from __future__ import annotations

import hashlib
import uuid
from urllib.parse import quote as urlquote

import adbc_driver_manager
import adbc_driver_postgresql.dbapi as adbc
import pyarrow as pa

from orchestration.warehouse.base import Session, Warehouse


class PostgresSession(Session):
    """ADBC keeps autocommit off: every statement runs in a transaction until commit()."""

    def execute(self, sql: str) -> None:
        with self.con.cursor() as cur:
            cur.execute(sql)

    def fetch_arrow(self, sql: str) -> pa.Table:
        with self.con.cursor() as cur:
            cur.execute(sql)
            return cur.fetch_arrow_table()

    def stage(self, data: pa.Table) -> str:
        name = f"incoming_{uuid.uuid4().hex[:12]}"
        with self.con.cursor() as cur:
            cur.adbc_ingest(name, data, mode="create", temporary=True)
        return f'"{name}"'

    def lock_for_write(self, key: str) -> None:
        # Released by commit/rollback, also when the connection drops: no lock outlives a run.
        with self.con.cursor() as cur:
            cur.execute("select pg_advisory_xact_lock($1)", (advisory_key(key),))
            cur.fetchall()

    def schema_exists(self, schema: str) -> bool:
        with self.con.cursor() as cur:
            cur.execute("select 1 from pg_namespace where nspname = $1", (schema,))
            return bool(cur.fetchall())

    def columns(self, schema: str, table: str) -> list[str]:
        with self.con.cursor() as cur:
            cur.execute(
                "select lower(column_name) from information_schema.columns "
                "where table_schema = $1 and table_name = $2 order by ordinal_position",
                (schema, table),
            )
            return [r[0] for r in cur.fetchall()]


def advisory_key(name: str) -> int:
    """A stable signed 64-bit advisory-lock key for `name` (the same in every process)."""
    digest = hashlib.blake2b(f"warecast:{name}".encode(), digest_size=8).digest()
    return int.from_bytes(digest, "big", signed=True)


# SQLSTATE classes of a lost or refused connection and of a server shutting down or starting.
_TRANSIENT_SQLSTATES = ("08", "57P")
_TRANSIENT_MESSAGES = (
    "server closed the connection",
    "connection refused",
    "terminating connection",
    "the database system is starting up",
    "the database system is shutting down",
    "no connection to the server",
)


class PostgresWarehouse(Warehouse):
    adapter_type = "postgres"

    def is_transient(self, error: BaseException) -> bool:
        if not isinstance(error, adbc_driver_manager.Error):
            return False
        sqlstate = getattr(error, "sqlstate", None) or ""
        message = str(error).lower()
        return sqlstate.startswith(_TRANSIENT_SQLSTATES) or any(
            marker in message for marker in _TRANSIENT_MESSAGES
        )

    def uri(self) -> str:
        p = self.profile
        user = urlquote(str(p["user"]), safe="")
        password = urlquote(str(p.get("password") or ""), safe="")
        auth = f"{user}:{password}" if password else user
        timeout = int(p.get("connect_timeout", 10))
        return (
            f"postgresql://{auth}@{p['host']}:{int(p['port'])}/{urlquote(str(p['dbname']))}"
            f"?connect_timeout={timeout}&application_name=warecast"
        )

    def _open(self) -> PostgresSession:
        return PostgresSession(adbc.connect(self.uri()))
