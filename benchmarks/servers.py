"""A throwaway PostgreSQL server for the benchmarks, wired into profiles.yml's postgres target."""

from __future__ import annotations

import os
import sys


def start_postgres(database: str):
    """Start a server from Debian's binaries (tests/pg_server.py), create `database`, export it."""
    from tests.pg_server import PostgresServer, find_pg_bin

    bin_dir = find_pg_bin()
    if bin_dir is None:
        sys.exit("PostgreSQL server binaries (initdb, pg_ctl) not found: set WARECAST_PG_BIN.")
    server = PostgresServer.init(bin_dir)
    server.create_database(database)
    os.environ.update(
        WARECAST_PG_HOST="127.0.0.1",
        WARECAST_PG_PORT=str(server.port),
        WARECAST_PG_USER="postgres",
        WARECAST_PG_DATABASE=database,
    )
    return server
