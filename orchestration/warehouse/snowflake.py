"""Snowflake: Arrow result batches for reads, write_pandas (staged bulk load) for writes.

Snowflake folds unquoted identifiers to upper case, and dbt-snowflake creates its models with
unquoted names, so every name warecast quotes is upper-cased first (`fold_case`): `ml.forecasts`
written here and `ml.forecasts` read by dbt are the same table. Columns come back lower-case,
the case warecast's contracts use.

Writes follow the shared recipe in base.py: the rows are bulk-loaded (Parquet, PUT, COPY INTO:
the steps of the connector's write_pandas) into a temporary table created with explicit column
types, then one transaction deletes and inserts. Snowflake commits DDL implicitly, which is why
the stage table exists before `begin`.
"""

from __future__ import annotations

import os
import tempfile
import uuid
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq

from orchestration.warehouse.base import CursorSession, Warehouse, column_ddl
from orchestration.warehouse.identifiers import quote

# profiles.yml keys passed to snowflake.connector.connect unchanged.
_CONNECT_KEYS = (
    "account",
    "user",
    "password",
    "role",
    "warehouse",
    "database",
    "schema",
    "authenticator",
    "host",
    "port",
    "protocol",
)
# dbt-snowflake's key-pair settings, under the connector's own names.
_KEY_PAIR_KEYS = {
    "private_key_path": "private_key_file",
    "private_key_passphrase": "private_key_file_pwd",
}


def under_fakesnow() -> bool:
    """Set by the tests (WARECAST_FAKESNOW=1) that run the Snowflake target on fakesnow."""
    return os.environ.get("WARECAST_FAKESNOW") == "1"


def _upper_quote(name: str, what: str = "column name") -> str:
    return quote(name.upper(), what)


class SnowflakeSession(CursorSession):
    def placeholder(self, position: int) -> str:
        return "%s"  # the connector's default pyformat binding

    def fetch_arrow_bound(self, sql: str, params) -> pa.Table:
        with self.con.cursor() as cur:
            cur.execute(sql, tuple(params) or None)
            table = cur.fetch_arrow_all(force_return_table=True)
        # Unquoted Snowflake identifiers come back upper-case; warecast's contracts are lower-case.
        return table.rename_columns([name.lower() for name in table.column_names])

    def stage(self, data: pa.Table) -> str:
        """Parquet file -> PUT to a temporary stage -> COPY INTO a temporary table.

        The steps of the connector's write_pandas, but straight from Arrow (no pandas round
        trip) and with statements both Snowflake and fakesnow's server accept.
        """
        name = f"INCOMING_{uuid.uuid4().hex[:12].upper()}"
        # Explicit types, not schema inference: the stage table matches the target.
        self.execute(
            f"create temporary table {quote(name)} ({column_ddl(data.schema, _upper_quote)})"
        )
        self.execute(f"create temporary stage {name}")
        upper = data.rename_columns([c.upper() for c in data.column_names])
        with tempfile.TemporaryDirectory(prefix="warecast-stage-") as folder:
            path = Path(folder) / f"{name}.parquet"
            pq.write_table(upper, path, compression="snappy")
            self.execute(f"put 'file://{path.as_posix()}' @{name} auto_compress=false")
        loaded = self._copy_into(name)
        if loaded != data.num_rows:
            raise RuntimeError(f"COPY INTO loaded {loaded} of {data.num_rows} rows into {name}.")
        return quote(name)

    def _copy_into(self, name: str) -> int:
        # fakesnow shim: its COPY INTO finds a session's temporary tables only as temp.main.
        target = f"temp.main.{quote(name)}" if under_fakesnow() else quote(name)
        with self.con.cursor() as cur:
            cur.execute(
                f"copy into {target} from @{name} "
                "file_format = (type = parquet use_logical_type = true) "
                "match_by_column_name = case_insensitive purge = true"
            )
            # One result row per file; rows_loaded is its fourth column.
            return sum(int(row[3]) for row in cur.fetchall())

    def columns(self, schema: str, table: str) -> list[str]:
        with self.con.cursor() as cur:
            cur.execute(
                "select lower(column_name) from information_schema.columns "
                "where table_schema = %s and table_name = %s order by ordinal_position",
                (schema.upper(), table.upper()),
            )
            return [r[0] for r in cur.fetchall()]

    def schema_exists(self, schema: str) -> bool:
        with self.con.cursor() as cur:
            cur.execute(
                "select count(*) from information_schema.schemata where schema_name = %s",
                (schema.upper(),),
            )
            return cur.fetchone()[0] > 0

    def begin(self) -> None:
        self.execute("begin")  # the connector autocommits otherwise


class SnowflakeWarehouse(Warehouse):
    """Identifiers are upper-cased: dbt-snowflake resolves unquoted names that way."""

    adapter_type = "snowflake"
    fold_case = staticmethod(str.upper)

    def connect_kwargs(self) -> dict:
        """snowflake.connector.connect arguments from the rendered profile (empty = unset)."""
        kwargs = {k: self.profile[k] for k in _CONNECT_KEYS if self.profile.get(k)}
        for profile_key, connector_key in _KEY_PAIR_KEYS.items():
            if self.profile.get(profile_key):
                kwargs[connector_key] = str(self.profile[profile_key])
        if "private_key_file" in kwargs:
            kwargs.pop("password", None)
            kwargs.setdefault("authenticator", "SNOWFLAKE_JWT")
        return kwargs

    def is_transient(self, error: BaseException) -> bool:
        from snowflake.connector.errors import OperationalError

        return isinstance(error, OperationalError)

    def _open(self) -> SnowflakeSession:
        import snowflake.connector

        return SnowflakeSession(snowflake.connector.connect(**self.connect_kwargs()))
