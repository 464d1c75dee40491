"""Warehouse clients against a real DuckDB file and a real PostgreSQL server."""

from __future__ import annotations

import datetime as dt

import pyarrow as pa
import pytest

from orchestration.settings import PROFILES_DIR
from orchestration.warehouse import Warehouse, WarehouseError
from orchestration.warehouse.base import run_step
from orchestration.warehouse.identifiers import InvalidIdentifierError
from orchestration.warehouse.profiles import ProfileError, load_target


def _rows(origin: dt.datetime, version: str, n_series: int = 3) -> pa.Table:
    return pa.table(
        {
            "series_id": [f"s{i}" for i in range(n_series)],
            "forecast_origin": [origin] * n_series,
            "p50": [float(i) for i in range(n_series)],
            "model_name": ["m"] * n_series,
            "model_version": [version] * n_series,
        }
    )


@pytest.fixture(params=["duckdb", pytest.param("postgres", marks=pytest.mark.postgres)])
def warehouse(request, warecast_home) -> Warehouse:
    if request.param == "postgres":
        request.getfixturevalue("pg_database")
    return Warehouse.from_profile(load_target(PROFILES_DIR, request.param))


def test_replace_table_round_trips_types(warehouse):
    table = pa.table(
        {
            "series_id": ["a", "b"],
            "ts": pa.array([dt.datetime(2020, 1, 1), dt.datetime(2020, 2, 1)], pa.timestamp("ns")),
            "value": [1.5, None],
            "n": pa.array([1, 2], pa.int64()),
        }
    )
    assert warehouse.replace_table("raw", "observations", table) == 2
    back = warehouse.read_table("raw", "observations")
    assert back.column_names == ["series_id", "ts", "value", "n"]
    assert back.column("value").to_pylist() == [1.5, None]
    assert back.column("ts").to_pylist()[1] == dt.datetime(2020, 2, 1)

    smaller = table.slice(0, 1)
    warehouse.replace_table("raw", "observations", smaller)
    assert warehouse.read_table("raw", "observations").num_rows == 1


def test_replace_partitions_rewrites_only_matching_rows(warehouse):
    first, second = dt.datetime(2021, 1, 1), dt.datetime(2021, 2, 1)
    key = ["series_id", "model_name", "forecast_origin"]
    warehouse.replace_partitions("ml", "forecasts", _rows(first, "1"), key)
    warehouse.replace_partitions("ml", "forecasts", _rows(second, "1"), key)
    warehouse.replace_partitions("ml", "forecasts", _rows(first, "2"), key)  # same partition again
    rows = warehouse.read_table("ml", "forecasts").to_pandas()
    assert len(rows) == 6
    assert set(rows[rows.forecast_origin == first].model_version) == {"2"}
    assert set(rows[rows.forecast_origin == second].model_version) == {"1"}


def test_columns_in_another_order_land_by_name(warehouse):
    key = ["series_id", "model_name", "forecast_origin"]
    origin = dt.datetime(2021, 1, 1)
    warehouse.replace_partitions("ml", "forecasts", _rows(origin, "1"), key)
    shuffled = _rows(origin, "2").select(
        ["p50", "model_version", "series_id", "model_name", "forecast_origin"]
    )
    warehouse.replace_partitions("ml", "forecasts", shuffled, key)
    rows = warehouse.read_table("ml", "forecasts").to_pandas().sort_values("series_id")
    assert list(rows.model_version) == ["2", "2", "2"]
    assert list(rows.p50) == [0.0, 1.0, 2.0]


def test_a_write_failing_after_its_delete_keeps_the_old_rows(warehouse, monkeypatch):
    """The delete and the load are one transaction: a load that breaks takes the delete back."""
    key = ["series_id", "model_name", "forecast_origin"]
    origin = dt.datetime(2021, 1, 1)
    warehouse.replace_partitions("ml", "forecasts", _rows(origin, "1"), key)
    real_steps = type(warehouse)._swap_steps

    def steps_then_break(self, s, *args):
        steps = real_steps(self, s, *args)
        assert steps[0].startswith("delete from")

        def broken_load():
            run_step(s, steps[-1])  # the rows land, then the load fails
            raise RuntimeError("load failed half-way")

        return [*steps[:-1], broken_load]

    monkeypatch.setattr(type(warehouse), "_swap_steps", steps_then_break)
    with pytest.raises(RuntimeError, match="half-way"):
        warehouse.replace_partitions("ml", "forecasts", _rows(origin, "2"), key)
    rows = warehouse.read_table("ml", "forecasts").to_pandas()
    assert len(rows) == 3
    assert set(rows.model_version) == {"1"}


def test_mismatched_columns_fail_and_keep_rows(warehouse):
    key = ["series_id", "model_name", "forecast_origin"]
    warehouse.replace_partitions("ml", "forecasts", _rows(dt.datetime(2021, 1, 1), "1"), key)
    other = _rows(dt.datetime(2021, 3, 1), "1").append_column("extra", pa.array([1.0] * 3))
    with pytest.raises(WarehouseError, match="does not alter it silently"):
        warehouse.replace_partitions("ml", "forecasts", other, key)
    assert warehouse.read_table("ml", "forecasts").num_rows == 3


def test_hostile_identifiers_are_rejected(warehouse):
    table = pa.table({"x": [1.0]})
    for schema, name in [("raw", 'obs"; drop table raw.observations; --'), ("r aw", "t")]:
        with pytest.raises(InvalidIdentifierError):
            warehouse.replace_table(schema, name, table)
    with pytest.raises(InvalidIdentifierError):
        warehouse.replace_table("raw", "t", pa.table({'x"; --': [1.0]}))


def test_missing_table_error_names_the_fix(warehouse):
    with pytest.raises(WarehouseError, match="materialize its upstream"):
        warehouse.read_table("marts", "fct_training_features")


def test_timezone_aware_timestamps_are_refused(warehouse):
    ts = pa.array([dt.datetime(2020, 1, 1)], pa.timestamp("us", tz="Europe/Berlin"))
    with pytest.raises(WarehouseError, match="time zone"):
        warehouse.replace_table("raw", "observations", pa.table({"ts": ts}))


def test_profile_requires_declared_target(warecast_home):
    with pytest.raises(ProfileError, match="choose one of"):
        load_target(PROFILES_DIR, "oracle")


def test_profile_reads_secrets_from_environment(monkeypatch):
    monkeypatch.setenv("WARECAST_PG_PASSWORD", "s3cret")
    monkeypatch.setenv("WARECAST_PG_PORT", "6543")
    target = load_target(PROFILES_DIR, "postgres")
    assert target["password"] == "s3cret"
    assert target["port"] == 6543
    assert target["type"] == "postgres"


@pytest.mark.postgres
@pytest.mark.parametrize(
    "column_type, expected",
    [
        ("integer", ["0", "1", "2"]),
        ("numeric(10, 2)", ["0.00", "1.00", "2.00"]),  # no Arrow twin: the server casts
        ("text", ["0", "1", "2"]),
    ],
)
def test_postgres_writes_into_a_table_with_its_own_column_types(
    warecast_home, pg_database, column_type, expected
):
    """Binary COPY needs the table's exact types: cast to them, or let the server cast."""
    warehouse = Warehouse.from_profile(load_target(PROFILES_DIR, "postgres"))
    with warehouse.session() as s:
        s.execute("create schema if not exists ml")
        s.execute(f"create table ml.typed (series_id varchar, step {column_type})")
        s.commit()
    rows = pa.table({"series_id": ["a", "b", "c"], "step": pa.array([0, 1, 2], pa.int64())})
    assert warehouse.replace_partitions("ml", "typed", rows, ["series_id"]) == 3
    assert warehouse.replace_partitions("ml", "typed", rows, ["series_id"]) == 3
    back = warehouse.read_table("ml", "typed").to_pandas().sort_values("series_id")
    assert [str(v) for v in back.step] == expected


def test_duckdb_client_takes_the_profiles_memory_limit(warecast_home, monkeypatch):
    """Python's DuckDB connection spills at the limit dbt gets, not at 80 % of RAM."""
    monkeypatch.setenv("WARECAST_DUCKDB_MEMORY_LIMIT", "1GB")
    client = Warehouse.from_profile(load_target(PROFILES_DIR, "duckdb"))
    with client.session() as session:
        (limit,) = session.con.execute("select current_setting('memory_limit')").fetchone()
    assert limit == "953.6 MiB"  # DuckDB's 1GB, in its own units


def test_duckdb_client_joins_a_connection_this_process_already_holds(warecast_home, monkeypatch):
    """dbt run in-process (dbtRunner) keeps the file open under its own configuration;
    the client must still read and write it rather than fail on the differing memory_limit."""
    import duckdb

    monkeypatch.setenv("WARECAST_DUCKDB_MEMORY_LIMIT", "1GB")
    client = Warehouse.from_profile(load_target(PROFILES_DIR, "duckdb"))
    client.path.parent.mkdir(parents=True, exist_ok=True)
    held = duckdb.connect(str(client.path))  # default configuration, as another caller would
    try:
        client.replace_table("ml", "joined", _rows(dt.datetime(2024, 1, 1), "v1"))
        assert client.read_table("ml", "joined").num_rows == 3
    finally:
        held.close()
