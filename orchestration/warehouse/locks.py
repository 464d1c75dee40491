"""Named locks held across processes for as long as a block of work runs (`Warehouse.exclusive`).

The write transactions already take turns per table (base.py); this is for a critical section
that spans minutes and several transactions: checking the `@champion` version, training,
registering and promoting it (orchestration/assets/ml.py). Every lock here is released by the
operating system or the server when its holder dies, so a killed run never leaves one behind.

- DuckDB: an OS file lock (`flock`) on a file beside the database file.
- PostgreSQL: a session-level advisory lock on a connection of its own (postgres.py); it holds
  across machines that share the server.
- Snowflake has no advisory locks: the same file lock, under WARECAST_HOME/locks. It serialises
  the runs of one machine sharing one WARECAST_HOME, not runs on different machines.
"""

from __future__ import annotations

import fcntl
import re
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path

Waiting = Callable[[str], None]


def ignore(message: str) -> None:
    """The default `on_wait`: say nothing while waiting."""


def lock_file_name(name: str) -> str:
    """A file name for lock `name` (any text): safe characters only."""
    return re.sub(r"[^A-Za-z0-9_.-]", "_", name) + ".lock"


def default_lock_dir() -> Path:
    """WARECAST_HOME/locks."""
    # Imported here: settings pulls in ml/ config, which the warehouse clients do not need.
    from orchestration.settings import warecast_home

    return warecast_home() / "locks"


@contextmanager
def file_lock(path: Path, name: str, on_wait: Waiting = ignore) -> Iterator[None]:
    """Hold an exclusive `flock` on `path` for the block; wait (saying so) while another holds it.

    The file stays (removing it would race with a waiter); the lock goes with the process.
    """
    path.parent.mkdir(parents=True, exist_ok=True)
    with open(path, "a+b") as handle:
        try:
            fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            on_wait(f"Waiting for lock {name!r}: another warecast run holds it (file {path}).")
            fcntl.flock(handle, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)
