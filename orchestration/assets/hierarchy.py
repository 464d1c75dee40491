"""ml/hierarchical_forecasts: every level of the pipeline's hierarchy forecast and reconciled.

Reads the dbt hierarchy marts (marts.dim_hierarchy, marts.fct_hierarchy_series), fits the
hierarchy's base model on every node (ml/hierarchy_backtest.py), reconciles bottom-up and MinT
(ml/hierarchy.py) and writes, in the pipeline's forecast_schema:
- hierarchical_forecasts: node x method x step (base, bottom_up, mint_shrink), the served
  method flagged; a run replaces the rows of its (model, forecast origin);
- hierarchical_backtest: accuracy per level and method over the hierarchy's cutoffs (runs
  accumulate); marts.fct_hierarchy_leaderboard shows the newest.
A pipeline without `hierarchy:` (or with no member series loaded) gets the empty tables, so the
marts over them still build.
"""

import uuid
from datetime import UTC, datetime

import dagster as dg
import pandas as pd
import pyarrow as pa
from dagster_dbt import get_asset_key_for_model

from orchestration.assets.backtest import BACKTESTS_KEY
from orchestration.assets.dbt import warecast_dbt_models
from orchestration.dbt_models import HIERARCHY_DIM_MODEL, HIERARCHY_SERIES_MODEL, relation_of
from orchestration.resources import WarehouseResource
from orchestration.settings import PipelineSettings, load_pipeline

HIERARCHY_KEY = dg.AssetKey(["ml", "hierarchical_forecasts"])
FORECASTS_TABLE, BACKTEST_TABLE = "hierarchical_forecasts", "hierarchical_backtest"
SERIES_MODEL, DIM_MODEL = HIERARCHY_SERIES_MODEL, HIERARCHY_DIM_MODEL
FALLBACK_MODEL = ("auto_theta", "small")

FORECASTS_SCHEMA = pa.schema(
    [
        ("series_id", pa.string()),
        ("level", pa.string()),
        ("forecast_origin", pa.timestamp("us")),
        ("target_ts", pa.timestamp("us")),
        ("horizon_step", pa.int64()),
        ("p10", pa.float64()),
        ("p50", pa.float64()),
        ("p90", pa.float64()),
        ("method", pa.string()),
        ("is_served", pa.bool_()),
        ("model_name", pa.string()),
        ("preset", pa.string()),
        ("created_at", pa.timestamp("us")),
        ("dagster_run_id", pa.string()),
    ]
)
BACKTEST_SCHEMA = pa.schema(
    [
        ("backtest_run_id", pa.string()),
        ("pipeline", pa.string()),
        ("level", pa.string()),
        ("level_depth", pa.int64()),
        ("method", pa.string()),
        ("model_name", pa.string()),
        ("preset", pa.string()),
        *[
            (name, pa.float64())
            for name in ("mase", "mase_vs_base", "mae", "rmse", "smape", "pinball_mean")
        ],
        ("coverage_80", pa.float64()),
        ("n_series", pa.int64()),
        ("n_cutoffs", pa.int64()),
        ("n_points", pa.int64()),
        ("cutoffs", pa.string()),
        ("dagster_run_id", pa.string()),
        ("created_at", pa.timestamp("us")),
    ]
)


@dg.asset(
    key=HIERARCHY_KEY,
    deps=[
        get_asset_key_for_model([warecast_dbt_models], SERIES_MODEL),
        get_asset_key_for_model([warecast_dbt_models], DIM_MODEL),
        BACKTESTS_KEY,
    ],
    group_name="ml",
    kinds={"python"},
)
def hierarchical_forecasts(context: dg.AssetExecutionContext, warehouse: WarehouseResource):
    """Forecasts of every level of the pipeline's hierarchy, reconciled so they add up."""
    pipeline = load_pipeline()
    client = warehouse.client()
    dim = client.read_table(*relation_of(DIM_MODEL)).to_pandas()
    if pipeline.hierarchy is None or dim.empty:
        reason = (
            "no series with every hierarchy attribute loaded (warecast load --hierarchy ...)"
            if pipeline.hierarchy
            else "no `hierarchy:` in the pipeline"
        )
        # Empty tables, so the marts over them still build.
        _write(client, pipeline, FORECASTS_SCHEMA.empty_table(), BACKTEST_SCHEMA.empty_table())
        context.log.info("No hierarchical forecasts: %s.", reason)
        return dg.MaterializeResult(metadata={"skipped": reason, "dagster/row_count": 0})

    settings = pipeline.hierarchy
    name, preset = base_model(settings, warehouse, pipeline, context.log)
    frame = client.read_table(*relation_of(SERIES_MODEL)).to_pandas()
    context.log.info("Forecasting %d hierarchy nodes with %s:%s", len(dim), name, preset)
    forecasts, board, cutoffs = _forecast_and_score(frame, dim, pipeline, name, preset)
    labels = {
        "model_name": name,
        "preset": preset,
        "dagster_run_id": context.run_id,
        "created_at": pd.Timestamp(datetime.now(UTC).replace(tzinfo=None)),
    }
    rows = forecasts.assign(is_served=forecasts["method"] == settings.method, **labels)
    board_rows = board.assign(
        backtest_run_id=uuid.uuid4().hex, pipeline=pipeline.name, cutoffs=cutoffs, **labels
    )
    _write(client, pipeline, _table(rows, FORECASTS_SCHEMA), _table(board_rows, BACKTEST_SCHEMA))
    return dg.MaterializeResult(
        metadata={
            "dagster/row_count": len(rows),
            "nodes": len(dim),
            "base_model": f"{name}:{preset}",
            "served_method": settings.method,
            "levels_accuracy": dg.MetadataValue.md(_markdown(board)),
        }
    )


def _forecast_and_score(frame, dim, pipeline: PipelineSettings, name: str, preset: str):
    """(forecasts of every node and method, accuracy per level and method, the cutoffs)."""
    from ml.backtest import BacktestConfig
    from ml.hierarchy_backtest import hierarchical_backtest, level_accuracy
    from ml.hierarchy_backtest import hierarchical_forecasts as forecast_levels

    settings = pipeline.hierarchy
    build = _builder(name, preset, settings)
    spec = pipeline.forecast_spec()
    forecasts = forecast_levels(frame, dim, spec, build)
    config = BacktestConfig(cutoffs=settings.cutoffs, step=settings.step)
    points = hierarchical_backtest(frame, dim, spec, build, config)
    cutoffs = ",".join(str(c) for c in sorted(points["cutoff"].unique()))
    return forecasts, level_accuracy(points, dim), cutoffs


def base_model(settings, warehouse, pipeline: PipelineSettings, log) -> tuple[str, str]:
    """The hierarchy's base model; 'champion' = the backtest's champion if it is a local
    statistical model (fast on every node), else auto_theta."""
    from ml.models import registry

    choice = settings.model
    if choice.name != "champion":
        return choice.name, choice.preset
    from orchestration.selection import read_champion_choice

    champion = read_champion_choice(warehouse, pipeline)
    if registry()[champion.model].fits_each_series:
        return champion.model, champion.preset
    log.info(
        "Champion %s is not a local statistical model: using %s", champion.model, FALLBACK_MODEL
    )
    return FALLBACK_MODEL


def _builder(name: str, preset: str, settings):
    """The base model's factory, built like every pipeline model (ml.backtest.candidates_for),
    bounded by hierarchy.max_history; the pipeline's own entry keeps its overrides."""
    from ml.backtest import ModelChoice, candidates_for

    overrides = settings.model.overrides if settings.model.name == name else {}
    choice = ModelChoice(name=name, preset=preset, overrides=overrides)
    try:
        (candidate,) = candidates_for(
            [choice], settings.max_history, "hierarchy.model of orchestration/pipelines.yaml"
        )
    except ValueError as error:
        raise dg.Failure(f"{error} hierarchy.model may also be 'champion'.") from error
    return candidate.build


def _table(frame: pd.DataFrame, schema: pa.Schema) -> pa.Table:
    out = frame[schema.names].copy()
    for field in schema:
        if pa.types.is_integer(field.type):
            out[field.name] = out[field.name].astype("int64")
    return pa.Table.from_pandas(out, schema=schema, preserve_index=False)


def _write(client, pipeline: PipelineSettings, forecasts: pa.Table, board: pa.Table) -> None:
    schema = pipeline.forecast_schema
    client.replace_partitions(schema, FORECASTS_TABLE, forecasts, ["model_name", "forecast_origin"])
    client.replace_partitions(schema, BACKTEST_TABLE, board, ["backtest_run_id"])


def _markdown(board: pd.DataFrame) -> str:
    lines = [
        "| level | method | mase | vs base | coverage_80 | nodes |",
        "|---|---|---|---|---|---|",
    ]
    for _, row in board.iterrows():
        lines.append(
            f"| {row['level']} | {row['method']} | {row['mase']:.3f} | "
            f"{row['mase_vs_base']:.3f} | {row['coverage_80']:.3f} | {row['n_series']} |"
        )
    return "\n".join(lines)
