"""Faults at the warehouse: a PostgreSQL restart mid-write, concurrent writers and BI readers,
a DuckDB file held by another process. Real servers and files; the fault is real too."""

from __future__ import annotations

import subprocess
import sys
import threading
import time

import pyarrow as pa
import pytest

from orchestration.settings import PROFILES_DIR
from orchestration.warehouse import Warehouse
from orchestration.warehouse.duckdb import DuckDBBusyError
from orchestration.warehouse.postgres import PostgresSession
from orchestration.warehouse.profiles import load_target
from tests.reliability.harness import FORECAST_KEY, assert_same_rows, published_forecasts

pytestmark = [pytest.mark.timeout(300)]


def _client(target: str) -> Warehouse:
    client = Warehouse.from_profile(load_target(PROFILES_DIR, target))
    client.retry_delays = (0.5, 1.0, 2.0, 4.0, 8.0)
    return client


def _version(table: pa.Table, version: str) -> pa.Table:
    n = table.num_rows
    table = table.set_column(
        table.column_names.index("model_version"), "model_version", pa.array([version] * n)
    )
    p50 = pa.array([float(version)] * n)
    return table.set_column(table.column_names.index("p50"), "p50", p50)


@pytest.mark.postgres
def test_postgres_restart_mid_write_rolls_back_and_retry_succeeds(
    warecast_home, pg_database, pg_server, monkeypatch
):
    client = _client("postgres")
    old = published_forecasts(n_series=20, version="1")
    client.replace_partitions("ml", "forecasts", old, FORECAST_KEY)
    new = _version(old, "2")

    real_execute = PostgresSession.execute
    restarts = []

    def execute_then_drop(self, sql):
        real_execute(self, sql)
        if sql.startswith("delete from") and not restarts:
            # The delete ran inside the open transaction; now the server goes away.
            restarts.append(threading.Thread(target=_restart, args=(pg_server, 1.0)))
            pg_server.stop("fast")
            restarts[0].start()

    monkeypatch.setattr(PostgresSession, "execute", execute_then_drop)
    assert client.replace_partitions("ml", "forecasts", new, FORECAST_KEY) == new.num_rows
    restarts[0].join()
    assert len(restarts) == 1
    monkeypatch.setattr(PostgresSession, "execute", real_execute)

    rows = client.read_table("ml", "forecasts")
    assert rows.num_rows == old.num_rows  # no duplicates
    assert set(rows.column("model_version").to_pylist()) == {"2"}
    assert client.leftover_stage_tables() == []


def _restart(server, after: float) -> None:
    time.sleep(after)
    server.start()


@pytest.mark.postgres
def test_postgres_down_longer_than_the_retries_fails_and_keeps_rows(
    warecast_home, pg_database, pg_server
):
    client = _client("postgres")
    old = published_forecasts(n_series=5, version="1")
    client.replace_partitions("ml", "forecasts", old, FORECAST_KEY)
    client.retry_delays = (0.2, 0.2)
    pg_server.stop("fast")
    try:
        with pytest.raises(Exception, match=r"(?i)connection refused|failed to connect"):
            client.replace_partitions("ml", "forecasts", _version(old, "2"), FORECAST_KEY)
    finally:
        pg_server.start()
    assert_same_rows(client.read_table("ml", "forecasts"), old)


@pytest.mark.postgres
def test_concurrent_writers_of_one_model_never_mix_rows(warecast_home, pg_database, monkeypatch):
    """Two writers rewrite the same forecast partitions while a reader checks every snapshot."""
    real_execute = PostgresSession.execute

    def slow_delete(self, sql):
        real_execute(self, sql)
        if sql.startswith("delete from"):
            time.sleep(0.1)  # widen the window in which the writers' transactions overlap

    monkeypatch.setattr(PostgresSession, "execute", slow_delete)
    client = _client("postgres")
    base = published_forecasts(n_series=30, version="1")
    client.replace_partitions("ml", "forecasts", base, FORECAST_KEY)
    errors: list[BaseException] = []
    snapshots: list[set] = []
    done = threading.Event()

    def writer(version: str) -> None:
        try:
            for _ in range(8):
                _client("postgres").replace_partitions(
                    "ml", "forecasts", _version(base, version), FORECAST_KEY
                )
        except BaseException as error:  # surfaced below
            errors.append(error)

    def reader() -> None:
        reader_client = _client("postgres")
        while not done.is_set() and len(snapshots) < 500:
            rows = reader_client.read_table("ml", "forecasts")
            assert rows.num_rows == base.num_rows, f"{rows.num_rows} rows: mixed or duplicated"
            snapshots.append(set(rows.column("model_version").to_pylist()))

    writers = [threading.Thread(target=writer, args=(v,)) for v in ("2", "3")]
    watcher = threading.Thread(target=lambda: _catch(reader, errors))
    for thread in [*writers, watcher]:
        thread.start()
    for thread in writers:
        thread.join(timeout=120)
    done.set()
    watcher.join(timeout=30)
    assert not errors, errors
    assert snapshots and all(len(versions) == 1 for versions in snapshots)
    final = client.read_table("ml", "forecasts")
    assert final.num_rows == base.num_rows
    assert len(set(final.column("model_version").to_pylist())) == 1


def _catch(target, errors: list) -> None:
    try:
        target()
    except BaseException as error:
        errors.append(error)


HOLD_DUCKDB = """
import duckdb, sys, time
con = duckdb.connect(sys.argv[1])
print("locked", flush=True)
time.sleep(float(sys.argv[2]))
"""


def _hold_duckdb(path, seconds: float) -> subprocess.Popen:
    holder = subprocess.Popen(
        [sys.executable, "-c", HOLD_DUCKDB, str(path), str(seconds)],
        stdout=subprocess.PIPE,
        text=True,
    )
    assert holder.stdout.readline().strip() == "locked"
    return holder


def test_duckdb_held_by_another_process_waits_then_writes(warecast_home):
    client = _client("duckdb")
    old = published_forecasts(n_series=3, version="1")
    client.replace_partitions("ml", "forecasts", old, FORECAST_KEY)
    holder = _hold_duckdb(client.path, 2.0)
    started = time.monotonic()
    try:
        client.replace_partitions("ml", "forecasts", _version(old, "2"), FORECAST_KEY)
    finally:
        holder.wait(timeout=30)
    assert time.monotonic() - started >= 1.0  # it waited for the other process
    rows = client.read_table("ml", "forecasts")
    assert rows.num_rows == old.num_rows
    assert set(rows.column("model_version").to_pylist()) == {"2"}


def test_duckdb_held_too_long_fails_clearly_and_keeps_rows(warecast_home):
    client = _client("duckdb")
    old = published_forecasts(n_series=3, version="1")
    client.replace_partitions("ml", "forecasts", old, FORECAST_KEY)
    client.retry_delays = (0.2, 0.2)
    holder = _hold_duckdb(client.path, 5.0)
    try:
        with pytest.raises(DuckDBBusyError, match=r"in use by another process.*Wait for it"):
            client.replace_partitions("ml", "forecasts", _version(old, "2"), FORECAST_KEY)
    finally:
        holder.kill()
        holder.wait()
    assert_same_rows(client.read_table("ml", "forecasts"), old)


@pytest.mark.parametrize("target", ["duckdb", pytest.param("postgres", marks=pytest.mark.postgres)])
def test_leftover_stage_tables_are_found_and_dropped(target, request, warecast_home):
    """A stage table a crash left as an ordinary table is found and dropped; nothing else is."""
    if target == "postgres":
        request.getfixturevalue("pg_database")
    client = _client(target)
    client.replace_partitions("ml", "forecasts", published_forecasts(2), FORECAST_KEY)
    assert client.leftover_stage_tables() == []
    leftover = pa.table({"x": [1.0]})
    client.replace_table("ml", "incoming_0123456789ab", leftover)
    client.replace_table("ml", "incoming_notes", leftover)  # not a stage-table name: kept
    assert client.leftover_stage_tables() == ["ml.incoming_0123456789ab"]
    assert client.drop_leftover_stage_tables() == ["ml.incoming_0123456789ab"]
    assert client.leftover_stage_tables() == []
    assert client.table_exists("ml", "incoming_notes")
    assert client.read_table("ml", "forecasts").num_rows == published_forecasts(2).num_rows


def test_leftover_lookup_works_on_snowflake(fakesnow_database):
    client = _client("snowflake")
    client.replace_partitions("ml", "forecasts", published_forecasts(2), FORECAST_KEY)
    assert client.leftover_stage_tables() == []
    assert client.read_table("ml", "forecasts").num_rows == published_forecasts(2).num_rows
