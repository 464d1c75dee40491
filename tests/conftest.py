"""Shared fixtures: an isolated warecast home per test and one real PostgreSQL server a session."""

from __future__ import annotations

import pytest

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
