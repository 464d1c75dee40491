"""Errors a person can read: the real `warecast` in a subprocess, exit code 2, a few lines, the
trace in the log file the message names. Bugs still show their trace (exit code 1)."""

from __future__ import annotations

import subprocess
import sys

import pyarrow as pa
import pytest

from orchestration.cli.parser import EXAMPLES
from tests.cli.helpers import client, log_path, stderr_lines, warecast

pytestmark = [pytest.mark.timeout(300)]


def _user_error(result, message: str, max_lines: int = 3) -> list[str]:
    assert result.returncode == 2, result.stderr[-3000:]
    lines = stderr_lines(result)
    assert message in result.stderr, result.stderr
    assert len(lines) <= max_lines, result.stderr
    assert "Traceback" not in result.stderr
    return lines


def test_a_missing_file_reads_as_two_lines_and_the_trace_is_logged(warecast_home):
    result = warecast("load", "missing.csv")
    lines = _user_error(result, "missing.csv does not exist. Check the path", max_lines=2)
    assert lines[0].startswith("warecast load: File ")
    assert "STEP_FAILURE" not in result.stderr  # found before Dagster started
    log = log_path(result)
    assert log.parent == warecast_home / "logs"
    assert "Traceback" in log.read_text() and "does not exist" in log.read_text()

    verbose = warecast("load", "missing.csv", "--verbose")
    assert verbose.returncode == 2 and "Traceback" in verbose.stderr


def test_a_missing_column_is_named_before_dagster_starts(warecast_home, tmp_path):
    path = tmp_path / "sales.csv"
    path.write_text("store,day,revenue\na,2024-01-01,1\n")
    result = warecast("load", str(path), "--series-id", "store", "--timestamp", "day")
    _user_error(result, "has no column(s) ['value']; it has ['store', 'day', 'revenue']")
    assert "--value" in result.stderr and "STEP_FAILURE" not in result.stderr


@pytest.mark.parametrize(
    ("flags", "message"),
    [
        (["--models", "seasonal_naive,prophet"], "--models prophet: Unknown model 'prophet'"),
        (["--models", "auto_ets:huge"], "Unknown statistical preset 'huge'"),
        (["--models", "seasonal_naive", "--model-preset", "huge"], "--model-preset huge"),
        (["--pipeline", "nowhere"], "Unknown pipeline 'nowhere'"),
        (["--dataset", "mine"], "Unknown dataset 'mine'"),
        (["--cutoffs", "0"], "--cutoffs 0: must be 1 or more"),
    ],
)
def test_unknown_models_presets_and_settings_stop_before_dagster(warecast_home, flags, message):
    _user_error(warecast("run", *flags), message)


def test_an_unreachable_postgres_server(warecast_home):
    """Nothing listens on port 1: refused at once, reported without 30 s of retries."""
    result = warecast("status", "--target", "postgres", WARECAST_PG_PORT="1")
    lines = _user_error(result, "Cannot reach PostgreSQL at 127.0.0.1:1")
    assert "WARECAST_PG_*" in lines[1]


def test_missing_snowflake_credentials(warecast_home, monkeypatch):
    for name in ("SNOWFLAKE_ACCOUNT", "SNOWFLAKE_USER", "SNOWFLAKE_PASSWORD"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.delenv("SNOWFLAKE_PRIVATE_KEY_PATH", raising=False)
    result = warecast("leaderboard", "--target", "snowflake")
    _user_error(result, "Snowflake credentials are missing: SNOWFLAKE_ACCOUNT, SNOWFLAKE_USER")


def test_a_locked_duckdb_file_is_waited_for_then_explained(warecast_home):
    warehouse = client("duckdb")
    warehouse.replace_table("raw", "observations", pa.table({"series_id": ["a"]}))
    holder = subprocess.Popen(
        [sys.executable, "-c", "import duckdb, sys, time; c = duckdb.connect(sys.argv[1]); "
         "print('held', flush=True); time.sleep(120)", str(warehouse.path)],
        stdout=subprocess.PIPE, text=True,
    )  # fmt: skip
    try:
        assert holder.stdout.readline().strip() == "held"
        result = warecast("status", "--target", "duckdb")
    finally:
        holder.kill()
        holder.wait()
    message = f"The DuckDB file {warehouse.path} is in use by another process"
    lines = _user_error(result, message, max_lines=4)
    assert lines[0].startswith("warecast: the warehouse is busy or not answering; retrying")
    assert "wait for the other process to finish" in lines[2]
    assert "attempt 6 of 7" in log_path(result).read_text()  # every retry, in the log


def test_rolling_back_another_pipelines_model(warecast_home):
    result = warecast("rollback", "--model", "someone_elses", "--to", "1")
    _user_error(result, "publishes model 'warecast_forecaster', not 'someone_elses'")


def test_a_bug_in_a_step_still_shows_its_trace(warecast_home, capsys):
    """An unexpected exception is no user error: exit code 1 and the whole trace."""
    import dagster as dg

    from orchestration.cli.errors import CommandLog
    from orchestration.cli.jobs import QUIET_LOGS, check_result, execute

    @dg.asset
    def broken_step():
        return {}["no such key"]  # a bug, not bad input

    defs = dg.Definitions(assets=[broken_step], jobs=[dg.define_asset_job("job")])
    log = CommandLog.for_command("run", ["run"])
    result = execute(defs.resolve_job_def("job"), log, run_config=QUIET_LOGS)
    assert check_result("run", result, log) == 1
    err = capsys.readouterr().err
    assert "KeyError" in err and "in broken_step" in err  # the frame where it happened
    assert "unexpected error (a bug" in err and "in broken_step" in log.path.read_text()


def test_version_and_help_with_an_example_on_every_subcommand():
    version = warecast("--version")
    assert version.returncode == 0 and version.stdout.startswith("warecast 0.")
    for command, example in EXAMPLES.items():
        shown = warecast(command, "--help")
        assert shown.returncode == 0, shown.stderr
        assert f"example:\n  {example}" in shown.stdout
        assert example.startswith(f"warecast {command} ")
