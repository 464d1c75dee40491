"""Errors a person can read: a few lines and exit code 2; the full trace goes to a log file.

A failure caused by input or configuration (a missing file, a bad column, an unknown model,
an unreachable warehouse, a locked DuckDB file, missing credentials) is a `UserError`. Anything
else is a bug: its trace is printed as Python and Dagster print it, and the exit code is 1.
"""

from __future__ import annotations

import logging
import os
import re
import sys
import traceback
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

USER_ERROR_EXIT = 2
BUG_EXIT = 1

# Exception classes (by name, as Dagster records them) raised for bad input or configuration.
USER_ERROR_CLASSES = {
    "SourceError",
    "InvalidIdentifierError",
    "ProfileError",
    "DuckDBBusyError",
    "UserError",
    "OperationalError",  # ADBC's and Snowflake's: the server went away or refused us
}
# Messages of plain ValueErrors/WarehouseErrors that name bad configuration, not a bug.
USER_ERROR_MESSAGES = re.compile(
    r"^(Unknown (model|pipeline|dataset|\w+ preset)\b|No preset file|Table \S+ does not exist"
    r"|Model \S+ in orchestration/pipelines\.yaml is not registered)"
)


class UserError(SystemExit):
    """Bad input or configuration: `message` says what and where, `hint` what to do.

    A SystemExit, so that Python callers of the CLI's functions (e.g. `rollback`) that do not
    catch it still end with the message rather than a trace.
    """

    def __init__(self, message: str, hint: str = "", after_run: bool = False):
        super().__init__(f"{message.strip()} {hint.strip()}".strip())
        self.message = message.strip()
        self.hint = hint.strip()
        self.after_run = after_run  # a Dagster step failed: say that nothing was published


def is_user_error(cls_name: str, message: str) -> bool:
    return cls_name in USER_ERROR_CLASSES or bool(USER_ERROR_MESSAGES.match(message))


def without_class(message: str) -> str:
    """'orchestration.sources.SourceError: File x ...' -> 'File x ...'."""
    first, _, rest = message.strip().partition(": ")
    return rest if rest and re.fullmatch(r"[\w.]+", first) else message.strip()


@dataclass
class CommandLog:
    """The log file of one command under <WARECAST_HOME>/logs/ (created on the first write)."""

    path: Path
    header: str = ""  # the command line, written first

    @classmethod
    def for_command(cls, command: str, argv: list[str]) -> CommandLog:
        from orchestration.settings import warecast_home

        stamp = datetime.now(UTC).strftime("%Y%m%dT%H%M%SZ")
        path = warecast_home() / "logs" / f"{stamp}-{command}-{os.getpid()}.log"
        return cls(path, f"warecast {' '.join(argv)}")

    def write(self, text: str) -> None:
        self.path.parent.mkdir(parents=True, exist_ok=True)
        first = not self.path.exists()
        with self.path.open("a", encoding="utf-8") as handle:
            if first and self.header:
                handle.write(self.header + "\n")
            handle.write(text if text.endswith("\n") else text + "\n")

    def exception(self, error: BaseException) -> None:
        self.write("".join(traceback.format_exception(error)))

    def shown(self) -> str:
        """The path as a person would type it: relative to the current folder when inside it."""
        try:
            return str(self.path.relative_to(Path.cwd()))
        except ValueError:
            return str(self.path)


class _LogFile(logging.Handler):
    """Appends to the command's log, which exists only once something is written to it."""

    def __init__(self, log: CommandLog) -> None:
        super().__init__(logging.DEBUG)
        self.log = log

    def emit(self, record: logging.LogRecord) -> None:
        self.log.write(self.format(record))


class _OneNotice(logging.Handler):
    """Retries (warecast.warehouse) go to the log; the console gets one line, the first time."""

    def __init__(self) -> None:
        super().__init__(logging.WARNING)
        self.shown = False

    def emit(self, record: logging.LogRecord) -> None:
        if not self.shown:
            self.shown = True
            print(
                "warecast: the warehouse is busy or not answering; retrying for up to 30 s "
                "(each attempt is in the log).",
                file=sys.stderr,
            )


@contextmanager
def warecast_logs_to(log: CommandLog) -> Iterator[None]:
    """warecast's own Python logging (e.g. retries) into the command's log file."""
    logger = logging.getLogger("warecast")
    handlers = [_LogFile(log), _OneNotice()]
    handlers[0].setFormatter(logging.Formatter("%(asctime)s - %(levelname)s - %(message)s"))
    for handler in handlers:
        logger.addHandler(handler)
    propagate, logger.propagate = logger.propagate, False
    try:
        yield
    finally:
        logger.propagate = propagate
        for handler in handlers:
            logger.removeHandler(handler)
            handler.close()


def report_user_error(command: str, error: UserError, log: CommandLog, verbose: bool) -> int:
    log.write(f"warecast {command}: {error.message}\n{error.hint}")
    lines = [f"warecast {command}: {error.message}"]
    if error.hint:
        lines.append(f"  What to do: {error.hint}")
    if error.after_run:
        lines.append("  Nothing was published by the failed step; earlier forecasts are intact.")
    lines.append(f"  Details: {log.shown()} (or re-run with --verbose)")
    if verbose:
        print(log.path.read_text(encoding="utf-8"), file=sys.stderr)
    print("\n".join(lines), file=sys.stderr)
    return USER_ERROR_EXIT


def report_bug(command: str, step: str, trace: str, log: CommandLog) -> int:
    """An unexpected exception inside a Dagster step: its whole trace, as it was."""
    log.write(trace)
    print(f"\n{trace}", file=sys.stderr)
    print(
        f"warecast {command}: step {step} failed with an unexpected error (a bug; the trace is "
        f"above and in {log.shown()}).\n"
        "Nothing was published by the failed step; earlier forecasts are intact.",
        file=sys.stderr,
    )
    return BUG_EXIT
