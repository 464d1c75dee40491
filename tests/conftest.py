"""Shared fixtures: an isolated warecast home per test and one real PostgreSQL server a session."""

from __future__ import annotations

import os

import pytest

if os.environ.get("PYTEST_XDIST_WORKER"):
    # Each worker gets one core's share: OpenMP threads (LightGBM, torch) that spin on a core
    # another worker uses slow a fit many-fold. Set before either library loads.
    os.environ.setdefault("OMP_NUM_THREADS", "1")

from tests.fakesnow_server import FakesnowServer
from tests.pg_server import PostgresServer, find_pg_bin


@pytest.fixture
def warecast_home(tmp_path, monkeypatch):
    """Fresh DuckDB file, MLflow store and Dagster storage for one test."""
    home = tmp_path / "warecast_home"
    monkeypatch.setenv("WARECAST_HOME", str(home))
    monkeypatch.delenv("MLFLOW_TRACKING_URI", raising=False)
    monkeypatch.delenv("WARECAST_TARGET", raising=False)
    monkeypatch.delenv("WARECAST_PIPELINE", raising=False)
    return home


@pytest.fixture(scope="session")
def pg_server():
    bin_dir = find_pg_bin()
    if bin_dir is None:
        pytest.fail(
            "PostgreSQL server binaries (initdb, pg_ctl) not found: install Debian's "
            "`postgresql` package (.ci/run does) or set WARECAST_PG_BIN."
        )
    server = PostgresServer.init(bin_dir)
    yield server
    server.destroy()


@pytest.fixture
def pg_database(pg_server, monkeypatch, request):
    """A fresh database on the session's server, wired into profiles.yml's postgres target."""
    name = "wc_" + request.node.name.lower().replace("[", "_").replace("]", "")[:40]
    pg_server.create_database(name)
    monkeypatch.setenv("WARECAST_PG_HOST", "127.0.0.1")
    monkeypatch.setenv("WARECAST_PG_PORT", str(pg_server.port))
    monkeypatch.setenv("WARECAST_PG_USER", "postgres")
    monkeypatch.setenv("WARECAST_PG_DATABASE", name)
    return name


@pytest.fixture(scope="session")
def fakesnow_server(tmp_path_factory):
    """One fakesnow server (Snowflake over HTTP, on DuckDB) a session; tests/fakesnow_server.py."""
    server = FakesnowServer.start(tmp_path_factory.mktemp("fakesnow") / "server.log")
    yield server
    server.stop()


@pytest.fixture
def fakesnow_database(fakesnow_server, monkeypatch, request):
    """A fresh database on the fakesnow server, wired into profiles.yml's snowflake target."""
    name = "wc_" + request.node.name.lower().replace("[", "_").replace("]", "")[:40]
    for key, value in fakesnow_server.env(name).items():
        monkeypatch.setenv(key, value)
    return name.upper()
