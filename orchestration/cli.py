"""`warecast`: run the forecasting job or load a file, from a shell.

warecast run  [--target duckdb|postgres|snowflake] [--pipeline NAME] [--dataset ...]
warecast load FILE --series-id COL --timestamp COL --value COL [--covariates a,b]
warecast rollback --model NAME --to VERSION [--target ...] [--reason TEXT]
"""

from __future__ import annotations

import argparse
import os
import sys
import time

TARGETS = ("duckdb", "postgres", "snowflake")
# Step events at INFO; the full DEBUG event log stays in the Dagster UI.
QUIET_LOGS = {"loggers": {"console": {"config": {"log_level": "INFO"}}}}


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="warecast", description=__doc__.splitlines()[0])
    sub = parser.add_subparsers(dest="command", required=True)

    run = sub.add_parser("run", help="raw load -> dbt -> train -> forecasts -> forecast marts")
    run.add_argument("--target", choices=TARGETS, help="profiles.yml target (default: duckdb)")
    run.add_argument("--pipeline", help="use case from orchestration/pipelines.yaml")
    run.add_argument(
        "--dataset",
        help="aus_retail | synthetic | current (keep raw.observations, e.g. after `load`)",
    )
    run.add_argument("--max-series", type=int, help="only the first N series (quick trials)")
    run.add_argument(
        "--model-preset", help="preset for the champion family (ml/presets/<family>.yaml)"
    )
    run.add_argument(
        "--models",
        help="comma-separated models to backtest, name or name:preset (default: the pipeline's)",
    )
    run.add_argument("--cutoffs", type=int, help="backtest origins (default: the pipeline's)")
    run.add_argument("--max-epochs", type=int)
    run.add_argument("--no-progress", action="store_true", help="hide the training progress bar")

    rollback = sub.add_parser(
        "rollback", help="make VERSION @champion again and rewrite the forecasts with it"
    )
    rollback.add_argument("--model", required=True, help="registered model name")
    rollback.add_argument("--to", required=True, dest="version", help="model version to serve")
    rollback.add_argument("--target", choices=TARGETS)
    rollback.add_argument("--pipeline", help="use case from orchestration/pipelines.yaml")
    rollback.add_argument("--reason", default="", help="recorded in the model-version history")

    load = sub.add_parser("load", help="load a CSV or Parquet file into raw.observations")
    load.add_argument("file")
    load.add_argument("--target", choices=TARGETS)
    load.add_argument("--series-id", default="series_id", help="column with the series key")
    load.add_argument("--timestamp", default="ts", help="column with the timestamp")
    load.add_argument("--value", default="value", help="column with the value to forecast")
    load.add_argument("--covariates", default="", help="comma-separated numeric columns")
    load.add_argument("--delimiter", default=",", help="CSV delimiter")
    load.add_argument("--encoding", default="utf-8", help="CSV encoding, e.g. latin-1")
    return parser


def _configure(args: argparse.Namespace) -> None:
    # Before importing the definitions: they read the target and pipeline from the environment.
    if args.target:
        os.environ["WARECAST_TARGET"] = args.target
    if getattr(args, "pipeline", None):
        os.environ["WARECAST_PIPELINE"] = args.pipeline


def _run_config(args: argparse.Namespace) -> dict:
    raw = {}
    if args.dataset:
        raw["dataset"] = args.dataset
    if args.max_series:
        raw["max_series"] = args.max_series
    train = {"progress_bar": not args.no_progress}
    if args.model_preset:
        train["model_preset"] = args.model_preset
    if args.max_epochs:
        train["max_epochs"] = args.max_epochs
    backtest = {}
    if args.models:
        backtest["models"] = [m.strip() for m in args.models.split(",") if m.strip()]
    if args.cutoffs:
        backtest["cutoffs"] = args.cutoffs
    ops = {
        "raw__observations": {"config": raw},
        "ml__backtests": {"config": backtest},
        "ml__trained_model": {"config": train},
    }
    return {"ops": ops, **QUIET_LOGS}


def _load_config(args: argparse.Namespace) -> dict:
    covariates = [c.strip() for c in args.covariates.split(",") if c.strip()]
    config = {
        "dataset": "file",
        "path": os.path.abspath(args.file),
        "series_id_column": args.series_id,
        "timestamp_column": args.timestamp,
        "value_column": args.value,
        "covariates": covariates,
        "delimiter": args.delimiter,
        "encoding": args.encoding,
    }
    return {"ops": {"raw__observations": {"config": config}}, **QUIET_LOGS}


def main(argv: list[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    _configure(args)

    import dagster as dg

    from orchestration.assets.raw import RAW_KEY
    from orchestration.definitions import defs
    from orchestration.summary import print_summary

    job = defs.resolve_job_def("forecast_pipeline")
    started = time.monotonic()
    with dg.DagsterInstance.get() as instance:
        if args.command == "rollback":
            result = rollback(defs, instance, args.model, args.version, args.reason)
        elif args.command == "load":
            result = job.execute_in_process(
                run_config=_load_config(args),
                instance=instance,
                asset_selection=[RAW_KEY],
                raise_on_error=False,
            )
        else:
            result = job.execute_in_process(
                run_config=_run_config(args), instance=instance, raise_on_error=False
            )
    if not result.success:
        _print_failure(result)
        return 1
    if args.command == "rollback":
        _print_rollback(result, args.model, args.version)
        return 0
    print_summary(args.command, result, time.monotonic() - started)
    return 0


def _print_rollback(result, model: str, version: str) -> None:
    written = [
        m.metadata for m in result.asset_materializations_for_node("ml__forecasts") if m.metadata
    ]
    rows = written[0]["dagster/row_count"].value if written else 0
    print(f"\nwarecast rollback: {model}@champion is now version {version}.")
    print(f"  forecasts rewritten with version {version}: {rows} rows")
    print("  history: ml.model_version_history, marts.dim_model_versions (docs/lineage.md)")


def rollback(defs, instance, model: str, version: str, reason: str = ""):
    """Point @champion at `version`, record it in the history, rewrite the forecasts with it.

    Returns the Dagster result of re-running ml/forecasts and everything downstream of it.
    """
    import dagster as dg

    from orchestration.assets.ml import FORECASTS_KEY
    from orchestration.lineage import ModelVersionHistory
    from orchestration.settings import load_pipeline

    pipeline = load_pipeline()
    if model != pipeline.model_name:
        raise SystemExit(
            f"warecast: pipeline {pipeline.name!r} publishes model {pipeline.model_name!r}, "
            f"not {model!r}: pass --pipeline for the use case that serves {model!r}."
        )
    warehouse = defs.resources["warehouse"]
    history = ModelVersionHistory(warehouse.client(), pipeline.forecast_schema)
    try:
        defs.resources["mlflow_tracking"].promote(
            model, version, reason or f"rollback to {version}", history, event="rolled_back"
        )
    except ValueError as error:
        raise SystemExit(f"warecast: {error}") from error
    keys = dg.AssetSelection.keys(FORECASTS_KEY).downstream().resolve(defs.resolve_asset_graph())
    return defs.resolve_job_def("forecast_pipeline").execute_in_process(
        run_config=QUIET_LOGS, instance=instance, asset_selection=list(keys), raise_on_error=False
    )


def _print_failure(result) -> None:
    for event in result.all_events:
        if event.is_step_failure and event.step_failure_data:
            error = event.step_failure_data.error
            cause = error.cause or error
            print(
                f"\nwarecast: step {event.step_key} failed: {cause.message.strip()}",
                file=sys.stderr,
            )
    print(
        "Nothing was published by the failed step; earlier forecasts are intact.", file=sys.stderr
    )


if __name__ == "__main__":
    sys.exit(main())
