"""Quick looks without SQL: `warecast leaderboard`, `forecasts --series ID`, `status`.

Read-only, from the marts, through the Warehouse interface (whole small tables, or rows by key
with bound values), on every target. Nothing here starts Dagster.
"""

from __future__ import annotations

import argparse
import difflib

from orchestration.cli.errors import UserError
from orchestration.cli.tables import number, render, when
from orchestration.dbt_models import (
    FEATURES_MODEL,
    LATEST_MODEL,
    LEADERBOARD_MODEL,
    SERIES_MODEL,
    mart_relation,
)

LEADERBOARD = mart_relation(LEADERBOARD_MODEL)
LATEST = mart_relation(LATEST_MODEL)
FEATURES = mart_relation(FEATURES_MODEL)
SERIES = mart_relation(SERIES_MODEL)
QUANTILES = ("p10", "p50", "p90")

_BOARD_COLUMNS = [
    ("rank", "model_rank"),
    ("model", "model"),
    ("preset", "preset"),
    ("champion", "is_champion"),
    ("mase", "mase"),
    ("vs snaive", "mase_vs_seasonal_naive"),
    ("mae", "mae"),
    ("rmse", "rmse"),
    ("smape", "smape"),
    ("cover80", "coverage_80"),
    ("pinball", "pinball_mean"),
    ("fallback", "share_fallback"),
    ("fit s", "fit_seconds"),
]


def _need(client, relation: tuple[str, str]) -> None:
    if not client.table_exists(*relation):
        raise UserError(
            f"{'.'.join(relation)} does not exist on this target yet.",
            "run `warecast run` first (it builds the marts).",
        )


def leaderboard(args: argparse.Namespace, client, settings) -> int:
    _need(client, LEADERBOARD)
    rows = client.read_where(*LEADERBOARD, {"pipeline": settings.name}).to_pylist()
    if not rows:
        raise UserError(
            f"No backtest of pipeline {settings.name!r} in marts.fct_model_leaderboard.",
            "run `warecast run` (it backtests before it trains), or pass --pipeline.",
        )
    rows.sort(key=lambda row: row["model_rank"])
    top = rows[0]
    print(
        f"Leaderboard of pipeline {settings.name!r}: backtest {top['backtest_run_id']} of "
        f"{when(top['created_at'])}, {top['n_cutoffs']} cutoff(s), {top['n_series']} series, "
        f"ranked by {top['selection_metric']} (lower is better)."
    )
    table = [[_cell(row, column) for _, column in _BOARD_COLUMNS] for row in rows]
    print(render([header for header, _ in _BOARD_COLUMNS], table))
    champion = next((row for row in rows if row["is_champion"]), None)
    if champion:
        print(f"Champion: {champion['model']}:{champion['preset']}. {champion['reason'] or ''}")
    return 0


def _cell(row: dict, column: str) -> str:
    value = row[column]
    if column == "is_champion":
        return "*" if value else ""
    return number(value) if isinstance(value, float) else str(value)


def forecasts(args: argparse.Namespace, client, settings) -> int:
    model = args.model or settings.model_name
    _need(client, LATEST)
    key = {"series_id": args.series, "model_name": model}
    rows = sorted(client.read_where(*LATEST, key).to_pylist(), key=lambda r: r["horizon_step"])
    if not rows:
        _no_forecast(client, args.series, model)
    first = rows[0]
    print(
        f"Series {args.series!r}: model {model} version {first['model_version']} "
        f"({first['method']}), forecast from {when(first['forecast_origin'])}, "
        f"written {when(first['created_at'])}."
    )
    history = _history(client, args.series, args.history)
    if history:
        print(f"\nHistory (last {len(history)} periods):")
        print(render(["ts", "value", "filled"], history))
    table = [
        [
            str(r["horizon_step"]),
            when(r["target_ts"]),
            *(number(r[q]) for q in ("p10", "p50", "p90")),
        ]
        for r in rows
    ]
    print(f"\nForecast ({len(rows)} steps):")
    print(render(["step", "target_ts", "p10", "p50", "p90"], table))
    return 0


def _history(client, series: str, periods: int) -> list[list[str]]:
    if periods <= 0 or not client.table_exists(*FEATURES):
        return []
    columns = ["ts", "value", "is_filled"]
    rows = client.read_where(*FEATURES, {"series_id": series}, columns).to_pylist()
    rows = sorted(rows, key=lambda r: r["ts"])[-periods:]
    return [[when(r["ts"]), number(r["value"]), "yes" if r["is_filled"] else ""] for r in rows]


def _no_forecast(client, series: str, model: str) -> None:
    others = client.read_where(*LATEST, {"series_id": series}, ["model_name"]).to_pylist()
    models = sorted({row["model_name"] for row in others})
    if models:
        raise UserError(
            f"Series {series!r} has no forecast of model {model!r}; it has forecasts of {models}.",
            f"pass --model {models[0]}.",
        )
    known = []
    if client.table_exists(*SERIES):
        known = sorted(client.read_table(*SERIES).column("series_id").to_pylist())
    close = difflib.get_close_matches(series, known, n=3, cutoff=0.5) or known[:3]
    raise UserError(
        f"Series {series!r} is not in marts.fct_forecasts_latest ({len(known)} series known).",
        f"pass --series with an id such as {', '.join(map(repr, close))}."
        if close
        else "run `warecast run` first.",
    )
