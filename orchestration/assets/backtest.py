"""ml/backtests: every configured model scored on the same cutoffs, the champion chosen.

One Dagster step backtests the models listed in orchestration/pipelines.yaml (ml/backtest.py),
picks the champion (ml/selection.py), writes both tables back atomically, and logs an MLflow run
with the models compared, the leaderboard and the reason the champion won. Tables (in the
pipeline's forecast_schema): backtest_points (cutoff x series x step x model, actual beside
p10/p50/p90) and backtest_summary (per model per run: metrics, rank, is_champion, reason).
"""

import contextlib
import json
import sys
import uuid
from datetime import UTC, datetime

import dagster as dg
import mlflow
import numpy as np
import pandas as pd
import pyarrow as pa
from dagster_dbt import get_asset_key_for_model

from ml.evaluation import SUMMARY_METRICS
from orchestration.assets.dbt import warecast_dbt_models
from orchestration.batched_reads import SeriesBatches
from orchestration.dbt_models import FEATURES_MODEL, relation_of
from orchestration.resources import WarehouseResource
from orchestration.selection import POINTS_TABLE, SUMMARY_TABLE
from orchestration.settings import PipelineSettings, current_target, load_pipeline
from orchestration.tracking import MlflowTracking

FEATURES_KEY = get_asset_key_for_model([warecast_dbt_models], FEATURES_MODEL)
# One asset, two tables: both dbt sources (ml.backtest_points, ml.backtest_summary) name this key.
BACKTESTS_KEY = dg.AssetKey(["ml", "backtests"])

POINTS_SCHEMA = pa.schema(
    [
        ("backtest_run_id", pa.string()),
        ("pipeline", pa.string()),
        ("model", pa.string()),
        ("preset", pa.string()),
        ("cutoff", pa.timestamp("us")),
        ("series_id", pa.string()),
        ("target_ts", pa.timestamp("us")),
        ("horizon_step", pa.int64()),
        ("actual", pa.float64()),
        ("p10", pa.float64()),
        ("p50", pa.float64()),
        ("p90", pa.float64()),
        ("method", pa.string()),
        ("scale", pa.float64()),
        ("mlflow_run_id", pa.string()),
        ("dagster_run_id", pa.string()),
        ("created_at", pa.timestamp("us")),
    ]
)
METRIC_FIELDS = [(name, pa.float64()) for name in SUMMARY_METRICS]
SUMMARY_SCHEMA = pa.schema(
    [
        ("backtest_run_id", pa.string()),
        ("pipeline", pa.string()),
        ("model", pa.string()),
        ("preset", pa.string()),
        ("rank", pa.int64()),
        ("is_champion", pa.bool_()),
        ("selection_metric", pa.string()),
        *METRIC_FIELDS,
        ("mape_note", pa.string()),
        ("n_zero_actuals", pa.int64()),
        ("share_fallback", pa.float64()),
        ("n_cutoffs", pa.int64()),
        ("n_series", pa.int64()),
        ("n_points", pa.int64()),
        ("max_history", pa.int64()),
        ("overrides", pa.string()),
        ("fit_seconds", pa.float64()),
        ("cutoffs", pa.string()),
        ("reason", pa.string()),
        ("mlflow_run_id", pa.string()),
        ("dagster_run_id", pa.string()),
        ("created_at", pa.timestamp("us")),
    ]
)


class BacktestRunConfig(dg.Config):
    """Overrides for one run; defaults: the pipeline in orchestration/pipelines.yaml."""

    # "name" (the pipeline's entry of that name, if any) or "name:preset" (that bare preset).
    models: list[str] | None = None
    cutoffs: int | None = None
    step: int | None = None


def model_choices(config: BacktestRunConfig, pipeline: PipelineSettings) -> list:
    if not config.models:
        return list(pipeline.models)
    # A name the pipeline lists keeps its entry (preset, overrides); `name:preset` is the bare one.
    return [pipeline.model_choice(entry) for entry in config.models]


def candidates(choices: list, max_history_statistical: int | None) -> list:
    """ml.backtest.candidates_for, an unknown family a failed step naming the registered ones."""
    from ml.backtest import candidates_for

    try:
        return candidates_for(choices, max_history_statistical, "orchestration/pipelines.yaml")
    except ValueError as error:
        raise dg.Failure(str(error)) from error


@dg.asset(
    key=BACKTESTS_KEY,
    deps=[FEATURES_KEY],
    group_name="ml",
    kinds={"python", "mlflow"},
)
def backtests(
    context: dg.AssetExecutionContext,
    config: BacktestRunConfig,
    warehouse: WarehouseResource,
    mlflow_tracking: MlflowTracking,
):
    """Rolling-origin backtest of the pipeline's models; the champion by the configured metric."""
    from ml.batched import run_backtest_batched
    from ml.selection import select_champion

    pipeline = load_pipeline()
    settings = pipeline.backtest.model_copy(
        update={k: v for k, v in {"cutoffs": config.cutoffs, "step": config.step}.items() if v}
    )
    spec = pipeline.forecast_spec()
    chosen = candidates(model_choices(config, pipeline), settings.max_history_statistical)
    # Batches of whole series (orchestration/batched_reads.py): memory follows the batch.
    batches = SeriesBatches(warehouse.client(), *relation_of(FEATURES_MODEL))
    context.log.info(
        "Backtesting %s on %d cutoffs: %d series in %d batch(es)",
        [c.name for c in chosen],
        settings.cutoffs,
        batches.n_series,
        len(batches.groups),
    )
    with _progress_bar(len(chosen) * settings.cutoffs) as advance:
        result = run_backtest_batched(
            batches, spec, chosen, settings, batches.last_ts, batches.n_series, on_fitted=advance
        )
    selection = select_champion(result.summary, settings.metric)
    context.log.info("Champion: %s", selection.reason)

    ids = {
        "backtest_run_id": uuid.uuid4().hex,
        "pipeline": pipeline.name,
        "dagster_run_id": context.run_id,
        "created_at": pd.Timestamp(datetime.now(UTC).replace(tzinfo=None)),
    }
    bounds = {c.name: c.max_history for c in chosen}
    overrides = {c.name: json.dumps(c.overrides, sort_keys=True) for c in chosen}
    client = warehouse.client()
    name = f"backtest {pipeline.name} {ids['created_at'].date()}"
    note = _backtest_note(pipeline, selection, result.cutoffs)
    with mlflow_tracking.run(name, _run_tags(pipeline, ids), description=note) as run:
        ids["mlflow_run_id"] = run.info.run_id
        experiment_id = run.info.experiment_id
        points = points_table(result.points, ids)
        board = summary_table(selection, result.cutoffs, bounds, overrides, ids)
        # Points first: the summary row is what readers (and the champion) go by.
        client.replace_partitions(pipeline.forecast_schema, POINTS_TABLE, points, ["pipeline"])
        client.replace_partitions(
            pipeline.forecast_schema, SUMMARY_TABLE, board, ["backtest_run_id"]
        )
        _log_backtest(selection, settings, spec, chosen, result.cutoffs)
        for candidate in chosen:
            _log_model_run(mlflow_tracking, candidate, selection, _run_tags(pipeline, ids))

    from orchestration.plots_metadata import backtest_plot_metadata

    return dg.MaterializeResult(
        metadata={
            # The leaderboard as a table and the champion's fan chart, readable in the UI without
            # SQL (also in MLflow); first, as the UI lists the entries in this order.
            **backtest_plot_metadata(
                warehouse, points, selection, mlflow_tracking, ids["mlflow_run_id"]
            ),
            "dagster/row_count": points.num_rows,
            "tables": [f"{pipeline.forecast_schema}.{t}" for t in (POINTS_TABLE, SUMMARY_TABLE)],
            "cutoffs": [str(c.date()) for c in result.cutoffs],
            # Cutoffs no series could be scored at (too little history): dropped, not failed.
            "dropped_cutoffs": [str(c.date()) for c in result.dropped_cutoffs],
            "champion": selection.champion,
            "reason": selection.reason,
            "metric": selection.metric,
            # Numbers Dagster plots over the materializations (the leaderboard is a table).
            "champion_score": float(selection.value),
            "champion_coverage_80": _champion_value(selection, "coverage_80"),
            "backtest_run_id": ids["backtest_run_id"],
            "mlflow_run_id": ids["mlflow_run_id"],
            "mlflow_experiment_id": experiment_id,
        }
    )


@contextlib.contextmanager
def _progress_bar(total: int):
    """A bar on a terminal's stderr (none in logs and CI: tqdm disables itself off a TTY)."""
    from tqdm.auto import tqdm

    with tqdm(total=total, desc="backtest", unit="fit", file=sys.stderr, disable=None) as bar:

        def advance(model: str, cutoff, seconds: float) -> None:
            bar.set_postfix_str(f"{model} @ {pd.Timestamp(cutoff).date()} {seconds:.0f} s")
            bar.update()

        yield advance


def points_table(points: pd.DataFrame, ids: dict) -> pa.Table:
    frame = points.assign(**ids)
    frame["horizon_step"] = frame["horizon_step"].astype("int64")
    return pa.Table.from_pandas(
        frame[POINTS_SCHEMA.names], schema=POINTS_SCHEMA, preserve_index=False
    )


def summary_table(selection, cutoffs: list, bounds: dict, overrides: dict, ids: dict) -> pa.Table:
    board = selection.leaderboard.assign(**ids)
    board["selection_metric"] = selection.metric
    board["cutoffs"] = ",".join(str(c) for c in cutoffs)
    board["max_history"] = board["model"].map(bounds).astype("Int64")
    board["overrides"] = board["model"].map(overrides)
    board["mape_note"] = np.where(
        board["n_zero_actuals"] > 0,
        board["n_zero_actuals"].astype(str) + " zero actual(s): MAPE undefined, use sMAPE or MASE",
        None,
    )
    return pa.Table.from_pandas(
        board[SUMMARY_SCHEMA.names], schema=SUMMARY_SCHEMA, preserve_index=False
    )


def _run_tags(pipeline: PipelineSettings, ids: dict) -> dict:
    return {
        "warecast.kind": "backtest",
        "pipeline": pipeline.name,
        "target": current_target(),
        "dagster_run_id": ids["dagster_run_id"],
        "backtest_run_id": ids["backtest_run_id"],
    }


def _log_backtest(selection, settings, spec, chosen: list, cutoffs: list) -> None:
    """Which models were compared, on what, the leaderboard, and why the champion won."""
    mlflow.log_params(
        {
            "models": ",".join(f"{c.name}:{c.preset}" for c in chosen),
            "metric": settings.metric,
            "cutoffs": ",".join(str(c.date()) for c in cutoffs),
            "step": settings.step or spec.horizon,
            "horizon": spec.horizon,
            "max_history_statistical": settings.max_history_statistical,
            "champion": selection.champion,
        }
    )
    board = selection.leaderboard
    # Each model's scores are its child run's metrics (_log_model_run), so MLflow's compare and
    # chart views rank the models; the parent keeps the champion's.
    mlflow.log_metric(f"champion.{selection.metric}", selection.value)
    mlflow.set_tags({"champion": selection.champion, "champion_reason": selection.reason[:4000]})
    mlflow.log_table(board.drop(columns=["reason"]), "leaderboard.json")
    mlflow.log_text(selection.reason + "\n", "champion_reason.txt")


def _log_model_run(tracking: MlflowTracking, candidate, selection, tags: dict) -> None:
    """A child run of the backtest's run per model compared: what it is, how it scored."""
    board = selection.leaderboard.set_index("model")
    if candidate.name not in board.index:
        return
    row = board.loc[candidate.name]
    won = candidate.name == selection.champion
    note = (
        f"{candidate.name}:{candidate.preset}, rank {row['rank']} of {len(board)} on "
        f"{selection.metric} ({row[selection.metric]:.4f}) over the backtest's cutoffs"
        + (": the champion." if won else ".")
    )
    tags = {**tags, "warecast.kind": "backtest_model", "rank": str(row["rank"])}
    with tracking.run(f"{candidate.name}:{candidate.preset}", tags, note, nested=True):
        mlflow.log_params(
            {
                "family": candidate.name,
                "preset": candidate.preset,
                "overrides": json.dumps(candidate.overrides, sort_keys=True),
                "max_history": candidate.max_history,
                "champion": won,
            }
        )
        scores = {name: float(row[name]) for name, _ in METRIC_FIELDS}
        scores["fit_seconds"] = float(row["fit_seconds"])
        scores["share_fallback"] = float(row["share_fallback"])
        mlflow.log_metrics({k: v for k, v in scores.items() if np.isfinite(v)})


def _backtest_note(pipeline: PipelineSettings, selection, cutoffs: list) -> str:
    dates = ", ".join(str(c.date()) for c in cutoffs)
    return (
        f"Backtest of pipeline {pipeline.name}: every model refitted at {len(cutoffs)} cutoffs "
        f"({dates}) and scored on the horizon after each; one child run per model, ranked by "
        f"{selection.metric}.\n\n{selection.reason}\n\nThis {selection.metric} is the one that "
        "picks the champion. The training run's val_* metrics score the final model on its "
        "own held-out last horizon (one origin), so they differ from it."
    )


def _champion_value(selection, column: str) -> float:
    board = selection.leaderboard
    return float(board.loc[board["model"] == selection.champion, column].iloc[0])
