"""PostgreSQL through ADBC: reads with binary COPY into Arrow, writes with binary COPY (ingest)."""

from __future__ import annotations

import uuid
from urllib.parse import quote as urlquote

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

    def columns(self, schema: str, table: str) -> list[str]:
        with self.con.cursor() as cur:
            cur.execute(
                "select lower(column_name) from information_schema.columns "
                "where table_schema = $1 and table_name = $2 order by ordinal_position",
                (schema, table),
            )
            return [r[0] for r in cur.fetchall()]


class PostgresWarehouse(Warehouse):
    adapter_type = "postgres"

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
