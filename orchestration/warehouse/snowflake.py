"""Snowflake: Arrow result batches for reads, write_pandas (staged bulk load) for writes."""

from __future__ import annotations

import uuid

import pyarrow as pa

from orchestration.warehouse.base import Session, Warehouse

_CONNECT_KEYS = (
    "account",
    "user",
    "password",
    "role",
    "warehouse",
    "database",
    "schema",
    "authenticator",
    "private_key_path",
    "private_key_passphrase",
    "host",
    "port",
    "protocol",
)


class SnowflakeSession(Session):
    def execute(self, sql: str) -> None:
        self.con.cursor().execute(sql)

    def fetch_arrow(self, sql: str) -> pa.Table:
        cur = self.con.cursor()
        cur.execute(sql)
        table = cur.fetch_arrow_all(force_return_table=True)
        # Unquoted Snowflake identifiers come back upper-case; warecast's contracts are lower-case.
        return table.rename_columns([name.lower() for name in table.column_names])

    def stage(self, data: pa.Table) -> str:
        from snowflake.connector.pandas_tools import write_pandas

        name = f"INCOMING_{uuid.uuid4().hex[:12].upper()}"
        frame = data.to_pandas()
        frame.columns = [c.upper() for c in frame.columns]
        write_pandas(
            self.con,
            frame,
            name,
            auto_create_table=True,
            table_type="temporary",
            use_logical_type=True,
            quote_identifiers=False,
        )
        return name

    def columns(self, schema: str, table: str) -> list[str]:
        cur = self.con.cursor()
        cur.execute(
            "select lower(column_name) from information_schema.columns "
            "where table_schema = %s and table_name = %s order by ordinal_position",
            (schema.upper(), table.upper()),
        )
        return [r[0] for r in cur.fetchall()]

    def begin(self) -> None:
        self.con.cursor().execute("begin")  # the connector autocommits otherwise


class SnowflakeWarehouse(Warehouse):
    """Identifiers are upper-cased: dbt-snowflake resolves unquoted names that way."""

    adapter_type = "snowflake"
    fold_case = staticmethod(str.upper)

    def _open(self) -> SnowflakeSession:
        import snowflake.connector

        kwargs = {k: self.profile[k] for k in _CONNECT_KEYS if self.profile.get(k)}
        return SnowflakeSession(snowflake.connector.connect(**kwargs))
