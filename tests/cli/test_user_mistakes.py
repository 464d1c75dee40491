"""User and environment mistakes through the real `warecast`, so none is reported as a bug:
each ends with exit code 2 and a few lines naming the problem and what to do, most of them
decided before Dagster starts, and nothing written is lost."""

from __future__ import annotations

import contextlib
import os
import subprocess
import sys
import time

import pytest

from orchestration.settings import load_pipeline
from tests.cli.helpers import (
    assert_nothing_lost,
    log_path,
    publish_before,
    stderr_lines,
    warecast,
)

pytestmark = [pytest.mark.timeout(300)]

TARGETS = ["duckdb", pytest.param("postgres", marks=pytest.mark.postgres)]


def _refused(result, *messages: str, max_lines: int = 4) -> list[str]:
    """Exit code 2, at most `max_lines` lines, no trace on screen, every message in them."""
    assert result.returncode == 2, result.stderr[-3000:]
    lines = stderr_lines(result)
    assert len(lines) <= max_lines, result.stderr
    assert "Traceback" not in result.stderr and " - ERROR - " not in result.stderr
    for message in messages:
        assert message in result.stderr, result.stderr
    return lines


@pytest.fixture(params=TARGETS)
def published(request, warecast_home):
    """(target, raw rows, forecasts) a previous load and run left: 2 series x 60 months."""
    if request.param == "postgres":
        request.getfixturevalue("pg_database")
    return (request.param, *publish_before(request.param))


def _intact(published) -> None:
    assert_nothing_lost(*published)


ONE_MODEL = ["--models", "seasonal_naive"]  # the preflight builds each model named: keep it quick


# --- cutoffs ----------------------------------------------------------------------------------


def test_more_cutoffs_than_the_built_in_data_holds(warecast_home):
    """aus_retail: 1982-04 .. 2018-12 monthly, horizon 24, 12 apart: 35 cutoffs fit (the old
    run fitted models for 93 s, then failed listing cutoffs back to the year 1016)."""
    started = time.monotonic()
    result = warecast("run", "--cutoffs", "1000", *ONE_MODEL)
    _refused(result, "--cutoffs 1000: dataset 'aus_retail' spans 1982-04-01", "at most 35 cutoff")
    assert "pass --cutoffs 35 or fewer" in result.stderr
    assert time.monotonic() - started < 30  # decided before Dagster starts
    _refused(warecast("run", "--cutoffs", "36", *ONE_MODEL), "at most 35 cutoff")


@pytest.mark.parametrize("published", TARGETS, indirect=True)
def test_more_cutoffs_than_the_loaded_data_holds(published):
    """60 months in raw.observations: 3 cutoffs fit; --cutoffs 1 always passes the door."""
    target = published[0]
    flags = ["--dataset", "current", "--cutoffs", "4", "--target", target, *ONE_MODEL]
    result = warecast("run", *flags)
    _refused(result, "raw.observations spans", "room for at most 3 cutoff(s)", "--cutoffs 3")
    _intact(published)


def test_the_backtest_takes_at_most_50_cutoffs(monkeypatch):
    """ml/backtest.py BacktestConfig allows 50; 120 years of months would hold more."""
    import argparse
    import datetime as dt

    from orchestration.cli import preflight
    from orchestration.cli.errors import UserError

    span = (dt.datetime(1900, 1, 1), dt.datetime(2020, 1, 1), "raw.observations")
    monkeypatch.setattr(preflight, "_data_span", lambda *_: span)
    args = argparse.Namespace(cutoffs=51, dataset="current", max_series=None)
    with pytest.raises(UserError, match="--cutoffs 51: the backtest takes at most 50"):
        preflight.cutoffs(args, load_pipeline("aus_retail"), None)
    preflight.cutoffs(argparse.Namespace(**{**vars(args), "cutoffs": 50}), load_pipeline(), None)


# --- --models ---------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("models", "message"),
    [
        (",", "--models ',' names no model"),
        ("", "--models '' names no model"),
        ("seasonal_naive,,auto_ets", "entry 2 is empty"),
        ("lightgbm:", "entry 1 ('lightgbm:') is not NAME or NAME:PRESET"),
        ("auto_ets,auto_ets:tiny", "lists auto_ets more than once"),
    ],
)
def test_an_empty_or_malformed_models_list(warecast_home, models, message):
    _refused(warecast("run", "--models", models), message, "What to do:")


def test_a_listed_model_name_keeps_the_pipelines_overrides():
    """`--models lightgbm` is the pipeline's lightgbm entry (train_history 120), as in a run
    without --models; `lightgbm:small` is the bare preset."""
    from orchestration.assets.backtest import BacktestRunConfig, model_choices

    pipeline = load_pipeline("aus_retail")
    listed = {choice.name: choice for choice in pipeline.models}
    chosen = model_choices(BacktestRunConfig(models=["seasonal_naive", "lightgbm"]), pipeline)
    assert chosen == [listed["seasonal_naive"], listed["lightgbm"]]
    assert chosen[1].overrides == {"train_history": 120}
    bare = model_choices(BacktestRunConfig(models=["lightgbm:small", "tft:tiny"]), pipeline)
    assert [(c.name, c.preset, c.overrides) for c in bare] == [
        ("lightgbm", "small", {}),
        ("tft", "tiny", {}),
    ]


# --- load --append with other covariates -----------------------------------------------------


def test_an_append_with_other_covariates(published, tmp_path):
    """The first load had none; `--append --covariates promo` was a trace and 'a bug'."""
    path = tmp_path / "more.csv"
    path.write_text("series_id,ts,value,promo\nbefore_0,2030-01-01,1.5,0\n")
    flags = ["--append", "--covariates", "promo", "--target", published[0]]
    result = warecast("load", str(path), *flags)
    _refused(result, "raw.observations has no covariates, but this --append loads covariates promo")
    assert "Nothing was written" in result.stderr and "append with no --covariates" in result.stderr
    _intact(published)


# --- a read-only or full WARECAST_HOME --------------------------------------------------------


@contextlib.contextmanager
def _read_only(folder):
    """`folder` read-only for this process: a read-only bind mount as root, else chmod."""
    if os.geteuid() != 0:
        modes = {p: p.stat().st_mode for p in [folder, *folder.rglob("*")]}
        for path in modes:
            path.chmod(modes[path] & 0o555)
        try:
            yield
        finally:
            for path, mode in modes.items():
                path.chmod(mode)
        return
    mounted = subprocess.run(["mount", "--bind", str(folder), str(folder)], capture_output=True)
    if mounted.returncode != 0:
        # CI runs as root on this kind of machine, where bind mounts work: never skip silently.
        pytest.fail(f"cannot bind-mount as root here: {mounted.stderr.decode().strip()}")
    try:
        subprocess.run(["mount", "-o", "remount,ro,bind", str(folder)], check=True)
        yield
    finally:
        subprocess.run(["umount", str(folder)], check=True)


@pytest.mark.parametrize("published", ["duckdb"], indirect=True)
def test_a_read_only_home(published, warecast_home, tmp_path):
    """Quick looks read a read-only home (DuckDB opened read-only, the log kept in memory);
    `load` and `run` stop at once, naming the folder."""
    path = tmp_path / "more.csv"
    path.write_text("series_id,ts,value\nbefore_0,2030-01-01,1.5\n")
    with _read_only(warecast_home):
        status = warecast("status")
        load = warecast("load", str(path), "--append")
        run = warecast("run", "--dataset", "current")
    assert status.returncode == 0, status.stderr[-3000:]
    assert "raw.observations  120 rows, 2 series" in status.stdout
    for result, command in ((load, "load"), (run, "run")):
        lines = _refused(result, f"WARECAST_HOME {warecast_home} is not writable", "writable")
        assert lines[0].startswith(f"warecast {command}: ")
        assert "log folder cannot be written" in lines[-1]
    _intact(published)


@pytest.fixture
def small_disk(tmp_path):
    """A 64 MiB tmpfs (root only)."""
    disk = tmp_path / "disk"
    disk.mkdir()
    mounted = subprocess.run(
        ["mount", "-t", "tmpfs", "-o", "size=64m", "tmpfs", str(disk)], capture_output=True
    )
    if mounted.returncode != 0:
        # CI runs as root on this kind of machine, where tmpfs mounts work: never skip silently.
        pytest.fail(f"cannot mount a tmpfs here: {mounted.stderr.decode().strip() or 'not root'}")
    yield disk
    subprocess.run(["umount", "-l", str(disk)], check=True)


def test_a_full_disk_during_a_load(small_disk, tmp_path, monkeypatch):
    """WARECAST_HOME on a disk with about 1 MiB left; the file (elsewhere) needs more."""
    home = small_disk / "home"
    monkeypatch.setenv("WARECAST_HOME", str(home))
    for name in ("MLFLOW_TRACKING_URI", "WARECAST_TARGET", "WARECAST_PIPELINE"):
        monkeypatch.delenv(name, raising=False)
    published = ("duckdb", *publish_before("duckdb"))
    big = tmp_path / "big.csv"
    with big.open("w") as out:
        out.write("series_id,ts,value\n")
        for i in range(300_000):
            out.write(f"new_{i % 500},{2000 + i // 6000}-{i // 500 % 12 + 1:02d}-01,{i}.25\n")
    filler = small_disk / "filler"
    free = os.statvfs(small_disk)
    filler.write_bytes(b"\0" * max(0, free.f_bavail * free.f_frsize - 1024 * 1024))
    try:
        result = warecast("load", str(big), "--append")
    finally:
        filler.unlink()
    _refused(result, "A disk is full", f"the disk of WARECAST_HOME {home}: ", "Nothing was loaded")
    assert "free space on that disk" in result.stderr
    _intact(published)


# --- two runs at once --------------------------------------------------------------------------

HOLD = """
import sys, time
from orchestration.cli.one_at_a_time import one_run_at_a_time
from tests.cli.helpers import client
with one_run_at_a_time(client(sys.argv[1]), "run"):
    print("held", flush=True)
    time.sleep(120)
"""


def test_a_second_run_is_refused_at_once(published):
    """Another run holds the warehouse: refused in seconds, before dbt (the old one waited on
    the warehouse, failed after its step, then ran dbt seeds for 40 s and delayed the winner)."""
    target = published[0]
    holder = subprocess.Popen(
        [sys.executable, "-c", HOLD, target], stdout=subprocess.PIPE, text=True, env=os.environ
    )
    try:
        assert holder.stdout.readline().strip() == "held"
        started = time.monotonic()
        result = warecast(
            "run", "--dataset", "current", "--models", "seasonal_naive", "--cutoffs", "1",
            "--target", target, timeout=90,
        )  # fmt: skip
        seconds = time.monotonic() - started
    finally:
        holder.kill()
        holder.wait()
    lines = _refused(result, "this `warecast run` did not start", "wait for it to finish")
    if target == "duckdb":
        assert f"Another `warecast run` (pid {holder.pid}, started " in lines[0]
    assert seconds < 30, seconds
    _intact(published)


# --- Dagster's ERROR lines --------------------------------------------------------------------


def test_dagster_error_lines_go_to_the_log_not_the_terminal(warecast_home, tmp_path):
    """A value beyond ±1e150 stops the load step: warecast's message only (the old console
    also printed the STEP_FAILURE and RUN_FAILURE events, 3-16 lines); they are in the log."""
    path = tmp_path / "upload.csv"
    path.write_text("series_id,ts,value\na,2024-01-01,1.5\nb,2024-01-01,1e308\n")
    result = warecast("load", str(path))
    _refused(result, "beyond ±1e+150", "Nothing was published", max_lines=4)
    logged = log_path(result).read_text()
    assert " - ERROR - " in logged and "STEP_FAILURE" in logged
