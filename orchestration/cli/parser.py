"""The `warecast` command line: subcommands, their flags, and an example line for each."""

from __future__ import annotations

import argparse
from importlib import metadata

TARGETS = ("duckdb", "postgres", "snowflake")

DESCRIPTION = "Warehouse-native forecasting: load observations, forecast, look at the results."

EXAMPLES = {
    "run": "warecast run --target duckdb --models seasonal_naive,auto_ets --cutoffs 1",
    "load": "warecast load sales.csv --series-id store --timestamp day --value sales",
    "rollback": "warecast rollback --model warecast_forecaster --to 3 --reason 'bad data'",
    "leaderboard": "warecast leaderboard --target duckdb",
    "forecasts": "warecast forecasts --series A3349335T --history 6",
    "status": "warecast status --target postgres",
}


def version() -> str:
    try:
        return metadata.version("warecast")
    except metadata.PackageNotFoundError:
        return "unknown (not installed: pip install -e .)"


def _common() -> argparse.ArgumentParser:
    """Flags every subcommand takes."""
    common = argparse.ArgumentParser(add_help=False)
    common.add_argument("--target", choices=TARGETS, help="profiles.yml target (default: duckdb)")
    common.add_argument("--pipeline", help="use case from orchestration/pipelines.yaml")
    common.add_argument(
        "--verbose", action="store_true", help="on an error, also print the full trace"
    )
    return common


def _sub(sub, name: str, help_text: str, common) -> argparse.ArgumentParser:
    return sub.add_parser(
        name,
        help=help_text,
        description=help_text,
        parents=[common],
        epilog=f"example:\n  {EXAMPLES[name]}",
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="warecast",
        description=DESCRIPTION,
        epilog="examples:\n" + "\n".join(f"  {line}" for line in EXAMPLES.values()),
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("--version", action="version", version=f"warecast {version()}")
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    common = _common()
    _run_flags(_sub(sub, "run", "raw load -> dbt -> backtest -> train -> forecasts", common))
    _load_flags(_sub(sub, "load", "load a CSV or Parquet file into raw.observations", common))
    _rollback_flags(
        _sub(sub, "rollback", "make VERSION @champion again; rewrite forecasts with it", common)
    )
    _sub(sub, "leaderboard", "the newest backtest's ranked models (read-only)", common)
    forecasts = _sub(
        sub, "forecasts", "a series' history tail and its p10/p50/p90 forecast", common
    )
    forecasts.add_argument("--series", required=True, help="series_id to show")
    forecasts.add_argument("--model", help="registered model name (default: the pipeline's)")
    forecasts.add_argument("--history", type=int, default=12, help="periods of history to show")
    _sub(sub, "status", "what is loaded, trained and forecast; what is stale", common)
    return parser


def _run_flags(run: argparse.ArgumentParser) -> None:
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


def _load_flags(load: argparse.ArgumentParser) -> None:
    load.add_argument("file", help="CSV (UTF-8 unless --encoding) or Parquet file")
    load.add_argument("--series-id", default="series_id", help="column with the series key")
    load.add_argument("--timestamp", default="ts", help="column with the timestamp")
    load.add_argument("--value", default="value", help="column with the value to forecast")
    load.add_argument("--covariates", default="", help="comma-separated numeric columns")
    load.add_argument(
        "--hierarchy",
        default="",
        help="comma-separated attribute columns, outermost first (e.g. state,industry): "
        "one value per series, kept in raw.series_attributes",
    )
    load.add_argument(
        "--append",
        action="store_true",
        help="add the rows to raw.observations (one new loaded_at; late corrections win) "
        "instead of replacing it: the next `warecast run` builds dbt incrementally",
    )
    load.add_argument("--delimiter", default=",", help="CSV delimiter")
    load.add_argument("--encoding", default="utf-8", help="CSV encoding, e.g. latin-1")
    load.add_argument(
        "--timestamp-unit",
        choices=("s", "ms", "us", "ns", "days"),
        help="timestamps written as numbers count this since 1970-01-01 UTC (needed for them)",
    )
    load.add_argument(
        "--date-format",
        help="strptime format of the timestamps, e.g. %%d/%%m/%%Y (needed for dates like "
        "02/01/2020, which read day- or month-first alike)",
    )


def _rollback_flags(rollback: argparse.ArgumentParser) -> None:
    rollback.add_argument("--model", required=True, help="registered model name")
    rollback.add_argument("--to", required=True, dest="version", help="model version to serve")
    rollback.add_argument("--reason", default="", help="recorded in the model-version history")
