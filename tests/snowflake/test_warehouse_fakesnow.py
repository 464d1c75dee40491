"""The Snowflake warehouse client against a real fakesnow server (Snowflake's HTTP protocol).

What this proves: the connector calls, the Parquet PUT + COPY INTO staging, the transaction and
the upper-case identifier folding work end to end through snowflake-connector-python. What it
does not: fakesnow runs on DuckDB, so Snowflake's own locking and type coercions are not tested.
"""

from __future__ import annotations

import datetime as dt

import pyarrow as pa
import pytest

from orchestration.settings import PROFILES_DIR
from orchestration.warehouse import SnowflakeWarehouse, Warehouse, WarehouseError
from orchestration.warehouse.profiles import load_target


@pytest.fixture
def warehouse(fakesnow_database) -> Warehouse:
    return Warehouse.from_profile(load_target(PROFILES_DIR, "snowflake"))


def _forecasts(origin: dt.datetime, version: str, n_series: int = 3) -> pa.Table:
    return pa.table(
        {
            "series_id": [f"s{i}" for i in range(n_series)],
            "forecast_origin": pa.array([origin] * n_series, pa.timestamp("us")),
            "p50": [float(i) + 0.25 for i in range(n_series)],
            "is_fallback": [i == 0 for i in range(n_series)],
            "model_name": ["m"] * n_series,
            "model_version": [version] * n_series,
        }
    )


def test_round_trip_keeps_types_and_lower_case_names(warehouse):
    table = pa.table(
        {
            "series_id": ["a", "b"],
            "ts": pa.array(
                [dt.datetime(2020, 1, 1), dt.datetime(2020, 2, 1, 13)], pa.timestamp("ns")
            ),
            "value": [1.5, None],
            "n": pa.array([1, 2], pa.int64()),
        }
    )
    assert isinstance(warehouse, SnowflakeWarehouse)
    assert warehouse.replace_table("raw", "observations", table) == 2
    back = warehouse.read_table("raw", "observations")
    assert back.column_names == ["series_id", "ts", "value", "n"]
    assert back.column("value").to_pylist() == [1.5, None]
    assert back.column("ts").to_pylist()[1] == dt.datetime(2020, 2, 1, 13)
    assert back.column("n").to_pylist() == [1, 2]

    warehouse.replace_table("raw", "observations", table.slice(0, 1))
    assert warehouse.read_table("raw", "observations").num_rows == 1


def test_tables_are_upper_case_objects_dbt_resolves(warehouse):
    """dbt-snowflake writes `ml.forecasts` unquoted, i.e. ML.FORECASTS: the same object."""
    warehouse.replace_table("ml", "forecasts", _forecasts(dt.datetime(2021, 1, 1), "1"))
    with warehouse.session() as s:
        unquoted = s.fetch_arrow("select count(*) as n from ml.forecasts")
    assert unquoted.column("n").to_pylist() == [3]


def test_replace_partitions_rewrites_only_matching_rows(warehouse):
    first, second = dt.datetime(2021, 1, 1), dt.datetime(2021, 2, 1)
    key = ["series_id", "model_name", "forecast_origin"]
    warehouse.replace_partitions("ml", "forecasts", _forecasts(first, "1"), key)
    warehouse.replace_partitions("ml", "forecasts", _forecasts(second, "1"), key)
    warehouse.replace_partitions("ml", "forecasts", _forecasts(first, "2"), key)
    rows = warehouse.read_table("ml", "forecasts").to_pandas()
    assert len(rows) == 6
    assert set(rows[rows.forecast_origin == first].model_version) == {"2"}
    assert set(rows[rows.forecast_origin == second].model_version) == {"1"}
    assert rows.is_fallback.sum() == 2


def test_failed_swap_rolls_back_and_keeps_rows(warehouse, monkeypatch):
    key = ["series_id", "model_name", "forecast_origin"]
    origin = dt.datetime(2021, 1, 1)
    warehouse.replace_partitions("ml", "forecasts", _forecasts(origin, "1"), key)

    def broken_insert(target, staged, schema):
        return f"insert into {target} select * from no_such_table"

    monkeypatch.setattr(warehouse, "_insert_sql", broken_insert)
    with pytest.raises(Exception, match=r"(?i)no_such_table"):
        warehouse.replace_partitions("ml", "forecasts", _forecasts(origin, "2"), key)
    rows = warehouse.read_table("ml", "forecasts").to_pandas()
    assert len(rows) == 3 and set(rows.model_version) == {"1"}  # the delete was rolled back


def test_mismatched_columns_fail_and_keep_rows(warehouse):
    key = ["series_id", "model_name", "forecast_origin"]
    warehouse.replace_partitions("ml", "forecasts", _forecasts(dt.datetime(2021, 1, 1), "1"), key)
    other = _forecasts(dt.datetime(2021, 3, 1), "1").append_column("extra", pa.array([1.0] * 3))
    with pytest.raises(WarehouseError, match="does not alter it silently"):
        warehouse.replace_partitions("ml", "forecasts", other, key)
    assert warehouse.read_table("ml", "forecasts").num_rows == 3


def test_key_pair_auth_replaces_the_password(monkeypatch, tmp_path):
    key = tmp_path / "rsa_key.p8"
    monkeypatch.setenv("SNOWFLAKE_ACCOUNT", "acme-eu1")
    monkeypatch.setenv("SNOWFLAKE_USER", "warecast")
    monkeypatch.setenv("SNOWFLAKE_PASSWORD", "ignored-when-a-key-is-set")
    monkeypatch.setenv("SNOWFLAKE_PRIVATE_KEY_PATH", str(key))
    monkeypatch.setenv("SNOWFLAKE_PRIVATE_KEY_PASSPHRASE", "s3cret")
    for unset in ("SNOWFLAKE_HOST", "SNOWFLAKE_PORT", "SNOWFLAKE_PROTOCOL"):
        monkeypatch.delenv(unset, raising=False)
    kwargs = SnowflakeWarehouse(load_target(PROFILES_DIR, "snowflake")).connect_kwargs()
    assert kwargs["private_key_file"] == str(key)
    assert kwargs["private_key_file_pwd"] == "s3cret"
    assert kwargs["authenticator"] == "SNOWFLAKE_JWT"
    assert "password" not in kwargs and "host" not in kwargs
    assert kwargs["account"] == "acme-eu1" and kwargs["port"] == 443
