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
    """Every --models entry names a registered model and one of its presets."""
    from ml.models import create_forecaster

    entries = [m.strip() for m in (args.models or "").split(",") if m.strip()]
    choices = [tuple(e.partition(":")[::2]) for e in entries] or [
        (c.name, c.preset) for c in settings.models
    ]
    for name, preset in choices:
        try:
            create_forecaster(name, preset or "small")
        except ValueError as error:
            raise UserError(f"--models {name}{':' + preset if preset else ''}: {error}") from None
    if args.model_preset:
        _champion_preset(args.model_preset, [name for name, _ in choices])


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
    from orchestration.file_checks import ColumnMapping, SourceError, inspect_user_file
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
        inspect_user_file(Path(args.file).absolute(), mapping, args.delimiter, args.encoding)
    except (SourceError, InvalidIdentifierError) as error:
        raise UserError(str(error)) from error
