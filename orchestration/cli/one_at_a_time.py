"""One `warecast run` or `load` at a time per warehouse: a second is refused at once.

Two runs against one warehouse would take turns on every table (DuckDB allows one writing
process; PostgreSQL's write locks serialise them) and the loser, failing minutes later, would
have slowed the winner down. So the CLI takes the warehouse's lock `run` before Dagster starts,
without waiting: a held lock is a `UserError` naming who holds it. The lock goes with the
process (an OS file lock beside the DuckDB file, a PostgreSQL session-level advisory lock,
a file lock under WARECAST_HOME/locks for Snowflake), so a killed run never leaves it behind.
"""

from __future__ import annotations

import contextlib
import fcntl
import os
from collections.abc import Iterator
from datetime import UTC, datetime

from orchestration.cli.errors import UserError

LOCK = "run"


@contextlib.contextmanager
def one_run_at_a_time(client, command: str) -> Iterator[None]:
    """Hold the warehouse's `run` lock for the block; refuse at once when another holds it."""
    if client.adapter_type == "postgres":
        with client.exclusive(LOCK, on_wait=lambda _: _refuse(command, _where(client), "")):
            yield
        return
    path = client.lock_path(LOCK)
    path.parent.mkdir(parents=True, exist_ok=True)
    with open(path, "a+", encoding="utf-8") as handle:
        try:
            fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            handle.seek(0)
            _refuse(command, _where(client), handle.read().strip())
        handle.seek(0)
        handle.truncate()
        started = datetime.now(UTC).strftime("%Y-%m-%d %H:%M:%S UTC")
        handle.write(f"`warecast {command}` (pid {os.getpid()}, started {started})")
        handle.flush()
        try:
            yield
        finally:
            handle.seek(0)
            handle.truncate()
            fcntl.flock(handle, fcntl.LOCK_UN)


def _where(client) -> str:
    profile = client.profile
    if client.adapter_type == "duckdb":
        return f"the DuckDB file {profile['path']}"
    if client.adapter_type == "postgres":
        return f"PostgreSQL database {profile.get('dbname')!r} at {profile.get('host')}"
    return f"Snowflake database {profile.get('database')!r}"


def _refuse(command: str, where: str, holder: str) -> None:
    raise UserError(
        f"Another {holder or 'warecast run or load'} is using {where}; "
        f"this `warecast {command}` did not start.",
        "wait for it to finish, then re-run (two at once would take turns on every table).",
    )
