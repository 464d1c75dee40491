"""Cheap checks before Dagster starts: the pipeline, the target and its credentials, the
warehouse answering, the models and presets named, and (for `load`) the file's first bytes and
header. Each failure is a `UserError` naming what is wrong and what to do.
"""

from __future__ import annotations

import argparse
from pathlib import Path

from orchestration.cli.errors import UserError

DATASETS = ("aus_retail", "synthetic", "current")
SNOWFLAKE_NEEDS = {"account": "SNOWFLAKE_ACCOUNT", "user": "SNOWFLAKE_USER"}


def pipeline():
    from orchestration.settings import PIPELINES_FILE, load_pipeline

    try:
        return load_pipeline()
    except ValueError as error:
        hint = f"pass --pipeline with a use case from {PIPELINES_FILE}."
        raise UserError(str(error), hint) from error


def target_profile(target: str) -> dict:
    from orchestration.settings import PROFILES_DIR
    from orchestration.warehouse.profiles import ProfileError, load_target

    try:
        profile = load_target(PROFILES_DIR, target)
    except ProfileError as error:
        raise UserError(str(error), "set it in the environment (never in a file).") from error
    if profile.get("type") == "snowflake":
        _snowflake_credentials(profile)
    return profile


def _snowflake_credentials(profile: dict) -> None:
    missing = [env for key, env in SNOWFLAKE_NEEDS.items() if not profile.get(key)]
    if not (profile.get("password") or profile.get("private_key_path")):
        missing.append("SNOWFLAKE_PASSWORD (or SNOWFLAKE_PRIVATE_KEY_PATH)")
    if missing:
        raise UserError(
            f"Snowflake credentials are missing: {', '.join(missing)} not set.",
            "export them in this shell (profiles/profiles.yml reads them from the environment).",
        )


def warehouse(profile: dict, must_exist: bool = False):
    """A client whose warehouse answered; DuckDB's lock is waited for, a server is not retried."""
    from orchestration.warehouse import Warehouse

    if profile["type"] == "duckdb" and must_exist:  # a quick look: it only reads
        profile = {**profile, "read_only": True}
    client = Warehouse.from_profile(profile)
    if profile["type"] == "duckdb" and must_exist and not Path(profile["path"]).exists():
        raise UserError(
            f"There is no DuckDB warehouse at {profile['path']} yet.",
            "run `warecast run` (or `warecast load FILE ...`) first, or set WARECAST_HOME.",
        )
    if profile["type"] != "duckdb":
        client.retry_delays = ()  # a wrong host or password does not heal in 30 s
    try:
        client.table_exists("raw", "observations")
    except Exception as error:
        raise _unreachable(profile, error) from error
    client.retry_delays = type(client).retry_delays
    return client


def _unreachable(profile: dict, error: Exception) -> UserError:
    first = (str(error).strip().splitlines() or [type(error).__name__])[0]
    if profile["type"] == "duckdb":
        return UserError(first, "wait for the other process to finish, then re-run.")
    where = {
        "postgres": f"PostgreSQL at {profile.get('host')}:{profile.get('port')}, database "
        f"{profile.get('dbname')!r} as user {profile.get('user')!r}",
        "snowflake": f"Snowflake account {profile.get('account')!r}",
    }[profile["type"]]
    prefix = "WARECAST_PG_" if profile["type"] == "postgres" else "SNOWFLAKE_"
    return UserError(
        f"Cannot reach {where}: {first}",
        f"check that the server is up and the {prefix}* settings (host, port, user, password).",
    )


def models(args: argparse.Namespace, settings) -> None:
    """Every --models entry names a registered model and one of its presets; a bare name the
    pipeline lists means the pipeline's entry (its preset and overrides)."""
    from ml.models import create_forecaster

    entries = model_entries(args.models)
    choices = [settings.model_choice(entry) for entry in entries] or list(settings.models)
    for entry, choice in zip(entries or [c.name for c in choices], choices, strict=True):
        try:
            create_forecaster(choice.name, choice.preset)
        except ValueError as error:
            raise UserError(f"--models {entry}: {error}") from None
    if args.model_preset:
        _champion_preset(args.model_preset, [choice.name for choice in choices])


MODELS_EXAMPLE = "e.g. --models seasonal_naive,auto_ets or --models lightgbm:tiny"


def model_entries(text: str | None) -> list[str]:
    """The entries of --models ([] when it is not given); an empty or malformed list stops."""
    if text is None:
        return []
    entries = [entry.strip() for entry in text.split(",")]
    if not any(entries):
        raise UserError(
            f"--models {text!r} names no model.",
            f"list one or more, {MODELS_EXAMPLE}; or leave --models out for the pipeline's.",
        )
    for position, entry in enumerate(entries, 1):
        name, colon, preset = (part.strip() for part in entry.partition(":"))
        if not name or (colon and not preset) or ":" in preset:
            what = "is empty" if not entry else f"({entry!r}) is not NAME or NAME:PRESET"
            raise UserError(
                f"--models {text!r}: entry {position} {what}.",
                f"separate names by single commas, {MODELS_EXAMPLE}.",
            )
    names = [entry.partition(":")[0].strip() for entry in entries]
    twice = sorted({name for name in names if names.count(name) > 1})
    if twice:
        raise UserError(
            f"--models {text!r} lists {', '.join(twice)} more than once.",
            "the backtest compares each model once, with one preset: keep one entry each.",
        )
    return entries


def _champion_preset(preset: str, names: list[str]) -> None:
    from ml.models import create_forecaster

    errors = []
    for name in names:
        try:
            create_forecaster(name, preset)
            return
        except ValueError as error:
            errors.append(str(error))
    raise UserError(f"--model-preset {preset}: no candidate model has it. {' '.join(errors)}")


def run_flags(args: argparse.Namespace) -> None:
    if args.dataset and args.dataset not in DATASETS:
        raise UserError(
            f"Unknown dataset {args.dataset!r}.",
            f"use one of {', '.join(DATASETS)} (or `warecast load FILE` for your own data).",
        )
    for flag, value in (("--cutoffs", args.cutoffs), ("--max-series", args.max_series)):
        if value is not None and value < 1:
            raise UserError(f"{flag} {value}: must be 1 or more.")


def load_file(args: argparse.Namespace) -> None:
    from orchestration.file_checks import (
        ColumnMapping,
        SourceError,
        check_timestamp_sample,
        inspect_user_file,
    )
    from orchestration.warehouse.identifiers import InvalidIdentifierError, checked

    if len(args.delimiter) != 1:
        raise UserError(
            f"--delimiter {args.delimiter!r} must be one character.", "e.g. --delimiter ';'"
        )
    covariates = [c.strip() for c in args.covariates.split(",") if c.strip()]
    mapping = ColumnMapping(args.series_id, args.timestamp, args.value, covariates)
    try:
        for name in covariates:
            checked(name, "covariate column name")
        path = Path(args.file).absolute()
        inspect_user_file(path, mapping, args.delimiter, args.encoding)
        # Numbers without --timestamp-unit, 02/01/2020 without --date-format: the first rows.
        unit, date_format = getattr(args, "timestamp_unit", None), getattr(args, "date_format", "")
        check_timestamp_sample(path, mapping, args.delimiter, args.encoding, unit, date_format)
    except (SourceError, InvalidIdentifierError) as error:
        raise UserError(str(error)) from error


# ml/backtest.py: BacktestConfig.cutoffs (le=50) and the history a series needs before a cutoff.
MAX_CUTOFFS = 50


def cutoffs(args: argparse.Namespace, settings, client) -> None:
    """An explicit --cutoffs K must fit the data: the oldest cutoff, K-1 steps before the newest
    (one horizon before the last period), leaves a few periods of history. Decided from the
    first and last timestamp of the data the run will use (one small read or the built-in set)."""
    from ml.backtest import MIN_HISTORY

    if args.cutoffs is None:
        return  # the pipeline's own; a short history drops cutoffs with a warning (ml/backtest.py)
    step = settings.backtest.step or settings.horizon
    shape = (
        f"each ends {settings.horizon} periods (the horizon) before the last, {step} periods "
        f"apart, with {MIN_HISTORY}+ periods of history before the oldest"
    )
    span = _data_span(args, settings, client)
    usable = MAX_CUTOFFS if span is None else _usable_cutoffs(*span[:2], settings, step)
    if args.cutoffs <= max(1, min(usable, MAX_CUTOFFS)):
        return
    if span is None or usable >= MAX_CUTOFFS:
        raise UserError(
            f"--cutoffs {args.cutoffs}: the backtest takes at most {MAX_CUTOFFS}.",
            f"pass --cutoffs {MAX_CUTOFFS} or fewer.",
        )
    first, last, source = span
    data = f"{source} spans {first:%Y-%m-%d %H:%M} .. {last:%Y-%m-%d %H:%M} ({settings.freq})"
    if usable == 0:
        raise UserError(
            f"--cutoffs {args.cutoffs}: {data}, too short for even one backtest cutoff ({shape}).",
            "leave --cutoffs out (the run forecasts without scoring cutoffs it cannot fill), "
            "or load more history.",
        )
    raise UserError(
        f"--cutoffs {args.cutoffs}: {data}, room for at most {usable} cutoff(s) ({shape}).",
        f"pass --cutoffs {usable} or fewer, or load more history.",
    )


def _usable_cutoffs(first, last, settings, step: int) -> int:
    """The most cutoffs (up to MAX_CUTOFFS) whose oldest leaves MIN_HISTORY periods: the same
    dates as ml.backtest.cutoff_dates, on the periods of the first and the last timestamp."""
    import pandas as pd

    from ml.backtest import MIN_HISTORY

    offset = pd.tseries.frequencies.to_offset(settings.freq)
    first = _period_start(pd.Timestamp(first), offset)
    last = _period_start(pd.Timestamp(last), offset)
    usable = 0
    for k in range(1, MAX_CUTOFFS + 1):
        oldest = last - (settings.horizon + (k - 1) * step) * offset
        if oldest - (MIN_HISTORY - 1) * offset < first:
            break
        usable = k
    return usable


def _period_start(ts, offset):
    try:
        return ts.floor(offset)  # hours, days (fixed-length periods)
    except ValueError:
        return offset.rollback(ts.normalize())  # months, quarters, years, weeks


def _data_span(args: argparse.Namespace, settings, client):
    """(first ts, last ts, where) of the data this run forecasts; None when it cannot tell
    cheaply (the run's own checks then report what is wrong with the data)."""
    import logging

    dataset = args.dataset or settings.dataset
    try:
        if dataset == "current":
            return (*_raw_span(client), "raw.observations")
        from orchestration.sources import demo_frame

        frame = demo_frame(dataset, args.max_series)
        return frame["ts"].min(), frame["ts"].max(), f"dataset {dataset!r}"
    except Exception:  # a cheap check only: the run decides on the real data
        logging.getLogger("warecast.preflight").debug("no data span", exc_info=True)
        return None


def _raw_span(client) -> tuple:
    """min and max ts of raw.observations: one small read."""
    if not client.table_exists("raw", "observations"):
        raise LookupError("raw.observations does not exist")
    row = client.summarize("raw", "observations", newest=["ts"], oldest=["ts"]).to_pylist()[0]
    if row["ts_oldest"] is None:
        raise LookupError("raw.observations has no rows")
    return row["ts_oldest"], row["ts_newest"]


def append_columns(args: argparse.Namespace, client) -> None:
    """`load --append` adds rows of the same shape: the covariates must be the raw table's."""
    if not getattr(args, "append", False) or not client.table_exists("raw", "observations"):
        return
    with client.session() as s:
        names = s.columns(client.fold_case("raw"), client.fold_case("observations"))
    existing = [name.lower() for name in names]
    wanted = [c.strip().lower() for c in args.covariates.split(",") if c.strip()]
    problem = appended_covariates_problem(existing, wanted)
    if problem:
        flag = f"--covariates {','.join(problem[0])}" if problem[0] else "no --covariates"
        raise UserError(
            f"raw.observations has {_covariates(problem[0])}, but this --append loads "
            f"{_covariates(wanted)}: an append adds rows of the same columns. Nothing was written.",
            f"append with {flag}, or load the whole history again without --append to change "
            "the covariates.",
        )


RAW_BASE_COLUMNS = ("series_id", "ts", "value", "loaded_at")


def appended_covariates_problem(existing: list[str], wanted: list[str]):
    """(the table's covariates, the load's) when they differ, else None."""
    have = [c for c in existing if c not in RAW_BASE_COLUMNS]
    return None if sorted(have) == sorted(wanted) else (have, wanted)


def _covariates(names: list[str]) -> str:
    return f"covariates {', '.join(names)}" if names else "no covariates"


def writable_home(command: str) -> None:
    """`run` and `load` write the warehouse file, the MLflow store and Dagster's storage under
    WARECAST_HOME: a read-only folder stops before anything starts."""
    import tempfile

    from orchestration.settings import warecast_home

    home = warecast_home()
    try:
        with tempfile.TemporaryFile(dir=home):
            pass
    except OSError as error:
        raise UserError(
            f"WARECAST_HOME {home} is not writable ({error.strerror}): `warecast {command}` "
            "keeps the DuckDB file, the MLflow store and Dagster's storage there.",
            "make it writable, or point WARECAST_HOME at a writable folder "
            "(`warecast status`, `leaderboard` and `forecasts` work on a read-only one).",
        ) from error
