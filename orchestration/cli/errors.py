"""Errors a person can read: a few lines and exit code 2; the full trace goes to a log file.

A failure caused by input or configuration (a missing file, a bad column, an unknown model,
an unreachable warehouse, a locked DuckDB file, missing credentials) is a `UserError`. Anything
else is a bug: its trace is printed as Python and Dagster print it, and the exit code is 1.
"""

from __future__ import annotations

import contextlib
import errno
import io
import logging
import os
import re
import shutil
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
    r"|Model \S+ in orchestration/pipelines\.yaml is not registered"
    r"|\S+ has columns \[.*\], but the rows to write have)"
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
    """The log file of one command under <WARECAST_HOME>/logs/ (created on the first write).

    Where the folder cannot be written (a read-only WARECAST_HOME, a full disk) the log is kept
    in memory instead: `unwritable` says why, the error message says so, and `--verbose`
    prints it to stderr.
    """

    path: Path
    header: str = ""  # the command line, written first
    unwritable: str = ""  # why the file cannot be written ("" while it can)

    def __post_init__(self) -> None:
        self._handle = None
        self._kept: list[str] = []

    @classmethod
    def for_command(cls, command: str, argv: list[str]) -> CommandLog:
        from orchestration.settings import warecast_home

        stamp = datetime.now(UTC).strftime("%Y%m%dT%H%M%SZ")
        try:
            home = warecast_home()
        except OSError as error:  # e.g. WARECAST_HOME under a read-only folder
            home = Path(os.environ.get("WARECAST_HOME", ".warecast")).absolute()
            log = cls(home / "logs" / f"{stamp}-{command}-{os.getpid()}.log", "")
            log.unwritable = f"{home}: {error.strerror or error}"
            log.header = f"warecast {' '.join(argv)}"
            return log
        path = home / "logs" / f"{stamp}-{command}-{os.getpid()}.log"
        return cls(path, f"warecast {' '.join(argv)}")

    def write(self, text: str) -> None:
        self.append(text if text.endswith("\n") else text + "\n")

    def append(self, text: str) -> None:
        """`text` as it is (a stream's pieces); into memory once the file cannot be written."""
        if not self.unwritable:
            try:
                self._file().write(text)
                self._handle.flush()
                return
            except OSError as error:
                self.unwritable = f"{self.path.parent}: {error.strerror or error}"
                self._close()
        if not self._kept and self.header:
            self._kept.append(self.header + "\n")
        self._kept.append(text)

    def _file(self):
        if self._handle is None:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            first = not self.path.exists()
            self._handle = self.path.open("a", encoding="utf-8")
            if first and self.header:
                self._handle.write(self.header + "\n")
        return self._handle

    def _close(self) -> None:
        with contextlib.suppress(OSError):
            if self._handle is not None:
                self._handle.close()
        self._handle = None

    def text(self) -> str:
        """Everything logged: the file's text, then what was kept in memory."""
        written = ""
        with contextlib.suppress(OSError):
            written = self.path.read_text(encoding="utf-8")
        return written + "".join(self._kept)

    def stream(self) -> _LogStream:
        """A file-like object writing into this log (for redirect_stdout, logging handlers)."""
        return _LogStream(self)

    def exception(self, error: BaseException) -> None:
        self.write("".join(traceback.format_exception(error)))

    def shown(self) -> str:
        """The path as a person would type it: relative to the current folder when inside it."""
        try:
            return str(self.path.relative_to(Path.cwd()))
        except ValueError:
            return str(self.path)

    def details(self) -> str:
        """The message's last line: where the trace is."""
        if self.unwritable:
            return (
                f"  Details: not logged, the log folder cannot be written ({self.unwritable}); "
                "re-run with --verbose to see them"
            )
        return f"  Details: {self.shown()} (or re-run with --verbose)"


class _LogStream(io.TextIOBase):
    def __init__(self, log: CommandLog) -> None:
        self.log = log

    def writable(self) -> bool:
        return True

    def write(self, text: str) -> int:
        self.log.append(text)
        return len(text)


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
    lines.append(log.details())
    if verbose:
        print(log.text(), file=sys.stderr)
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


# A full disk, as the OS, DuckDB, SQLite (Dagster's and MLflow's storage) and PostgreSQL say it.
DISK_FULL = re.compile(
    r"No space left on device|database or disk is full|Disk quota exceeded|could not extend file",
    re.IGNORECASE,
)


def disk_full_text(error: BaseException) -> str | None:
    """The first line saying the disk is full, from `error` or its causes; None otherwise."""
    seen = set()
    while error is not None and id(error) not in seen:
        seen.add(id(error))
        if isinstance(error, OSError) and error.errno == errno.ENOSPC:
            return str(error)
        for line in str(error).splitlines():
            if DISK_FULL.search(line) or (DISK_ERROR.search(line) and home_disk_nearly_full()):
                return line.strip()
        error = error.__cause__ or error.__context__
    return None


# SQLite's word for a failed write (Dagster's and MLflow's storage), a full disk among others.
DISK_ERROR = re.compile(r"disk I/O error", re.IGNORECASE)
NEARLY_FULL = 16 * 1024 * 1024  # bytes free on WARECAST_HOME's disk


def home_disk_nearly_full() -> bool:
    home = Path(os.environ.get("WARECAST_HOME") or ".warecast").absolute()
    try:
        return shutil.disk_usage(home).free < NEARLY_FULL
    except OSError:
        return False


def disk_full(command: str, text: str, after_run: bool = False) -> UserError:
    """A UserError naming the full disk (WARECAST_HOME's, with its free space) and that the
    failed write changed nothing: every write is one transaction (warehouse/base.py)."""
    home = Path(os.environ.get("WARECAST_HOME") or ".warecast").absolute()
    try:
        usage = shutil.disk_usage(home)
        room = f": {_size(usage.free)} free of {_size(usage.total)}"
    except OSError:
        room = ""
    nothing = (
        "Nothing was loaded: raw.observations is as it was."
        if command == "load"
        else "The write that failed was rolled back."
    )
    return UserError(
        f"A disk is full: {without_class(text)} (the disk of WARECAST_HOME {home}{room}). "
        f"{nothing}",
        "free space on that disk (or point WARECAST_HOME at a bigger one), then re-run.",
        after_run=after_run and command != "load",
    )


def _size(n: float) -> str:
    for unit in ("B", "KB", "MB", "GB", "TB"):
        if n < 1024 or unit == "TB":
            return f"{n:.0f} {unit}" if unit == "B" else f"{n:.1f} {unit}"
        n /= 1024
    return f"{n} B"
