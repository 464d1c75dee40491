"""`warecast`: run the forecasting job, load a file, or take a quick look, from a shell.

warecast run  [--target duckdb|postgres|snowflake] [--pipeline NAME] [--dataset ...]
warecast load FILE --series-id COL --timestamp COL --value COL [--covariates a,b]
warecast rollback --model NAME --to VERSION [--target ...] [--reason TEXT]
warecast leaderboard | forecasts --series ID [--model M] | status     (read-only)

Input and configuration errors end with a few lines and exit code 2; the trace is in the log
file the message names (orchestration/cli/errors.py). Cheap checks run before Dagster starts.
"""

from __future__ import annotations

import argparse
import os
import sys

from orchestration.cli import preflight
from orchestration.cli.errors import (
    CommandLog,
    UserError,
    disk_full,
    disk_full_text,
    report_user_error,
    warecast_logs_to,
)
from orchestration.cli.jobs import QUIET_LOGS, rollback
from orchestration.cli.jobs import run_config as _run_config
from orchestration.cli.one_at_a_time import one_run_at_a_time
from orchestration.cli.parser import build_parser as _parser

__all__ = ["QUIET_LOGS", "_parser", "_run_config", "main", "rollback"]


def _configure(args: argparse.Namespace) -> None:
    # Before importing the definitions: they read the target and pipeline from the environment.
    if args.target:
        os.environ["WARECAST_TARGET"] = args.target
    if args.pipeline:
        os.environ["WARECAST_PIPELINE"] = args.pipeline


def _dagster_command(args: argparse.Namespace, log: CommandLog) -> int:
    from orchestration.cli import jobs
    from orchestration.settings import current_target

    settings = preflight.pipeline()
    if args.command in ("load", "run"):
        preflight.writable_home(args.command)
    client = preflight.warehouse(preflight.target_profile(current_target()))
    if args.command == "load":
        preflight.load_file(args)
        preflight.append_columns(args, client)
    if args.command == "run":
        preflight.run_flags(args)
        preflight.models(args, settings)
        preflight.cutoffs(args, settings, client)
    if args.command in ("load", "run"):
        with one_run_at_a_time(client, args.command):
            return jobs.run_or_load(args, log)
    if args.model != settings.model_name:
        raise UserError(
            f"pipeline {settings.name!r} publishes model {settings.model_name!r}, "
            f"not {args.model!r}.",
            f"pass --pipeline for the use case that serves {args.model!r}.",
        )
    return jobs.rollback_command(args, log)


def _quick_look(args: argparse.Namespace) -> int:
    from orchestration.cli import looks
    from orchestration.cli.status import status
    from orchestration.settings import current_target

    settings = preflight.pipeline()
    profile = preflight.target_profile(current_target())
    client = preflight.warehouse(profile, must_exist=True)
    if args.command == "leaderboard":
        return looks.leaderboard(args, client, settings)
    if args.command == "forecasts":
        return looks.forecasts(args, client, settings)
    return status(args, client, settings, profile)


def _quick_look_to_a_pipe(args: argparse.Namespace) -> int:
    try:
        return _quick_look(args)
    except BrokenPipeError:  # `warecast forecasts ... | head`: the reader has seen enough
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        return 0


def main(argv: list[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    _configure(args)
    log = CommandLog.for_command(args.command, sys.argv[1:] if argv is None else argv)
    try:
        with warecast_logs_to(log):
            if args.command in ("leaderboard", "forecasts", "status"):
                return _quick_look_to_a_pipe(args)
            return _dagster_command(args, log)
    except UserError as error:
        log.exception(error)
        return report_user_error(args.command, error, log, args.verbose)
    except Exception as error:
        full = disk_full_text(error)  # e.g. Dagster's or MLflow's storage, outside a step
        if full is None:
            raise
        log.exception(error)
        return report_user_error(args.command, disk_full(args.command, full), log, args.verbose)
