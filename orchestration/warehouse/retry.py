"""Retry with backoff for operations that are safe to repeat.

Every warehouse write is idempotent (a whole table or whole partitions are replaced in one
transaction), so after a dropped connection the whole operation runs again on a new connection:
the server has rolled the broken transaction back, and a repeat cannot duplicate rows.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Sequence
from typing import TypeVar

T = TypeVar("T")
log = logging.getLogger("warecast.warehouse")

# About 30 s in all: long enough for a database restart or failover, short enough to fail a run.
DEFAULT_DELAYS: tuple[float, ...] = (0.5, 1.0, 2.0, 4.0, 8.0, 15.0)


def with_backoff(
    operation: Callable[[], T],
    is_transient: Callable[[BaseException], bool],
    delays: Sequence[float] = DEFAULT_DELAYS,
    what: str = "warehouse operation",
) -> T:
    """Run `operation`; on a transient error wait and run it again, at most len(delays) times."""
    for attempt, delay in enumerate((*delays, None), start=1):
        try:
            return operation()
        except Exception as error:
            if delay is None or not is_transient(error):
                raise
            log.warning(
                "%s failed (attempt %d of %d): %s; retrying in %.1f s",
                what,
                attempt,
                len(delays) + 1,
                _first_line(error),
                delay,
            )
            time.sleep(delay)
    raise AssertionError("unreachable")  # the loop returns or raises


def _first_line(error: BaseException) -> str:
    text = str(error).strip().splitlines()
    return text[0] if text else type(error).__name__
