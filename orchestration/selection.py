"""The champion the latest backtest chose, read back from the warehouse (ml.backtest_summary).

`ml/trained_model` asks this which family and preset to train on all data and register as
@champion, so the choice made on the backtest and the model serving forecasts cannot drift.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field

import pandas as pd

from orchestration.settings import PipelineSettings, load_pipeline
from orchestration.warehouse import Warehouse

POINTS_TABLE = "backtest_points"
SUMMARY_TABLE = "backtest_summary"


class ChampionNotFoundError(RuntimeError):
    """No usable backtest result: the message says what to materialize or change."""


@dataclass(frozen=True)
class ChampionChoice:
    model: str  # registered family, ml.models.create_forecaster(model, preset)
    preset: str
    metric: str
    value: float
    reason: str
    backtest_run_id: str
    max_history: int | None = None  # the history bound it was backtested with (None = all)
    # Everything the backtest passed over the preset: create_forecaster(model, preset, **overrides)
    overrides: dict = field(default_factory=dict)


def read_champion_choice(warehouse, pipeline: PipelineSettings | str | None = None):
    """The champion of `pipeline`'s newest backtest. warehouse: WarehouseResource or Warehouse."""
    client: Warehouse = warehouse.client() if hasattr(warehouse, "client") else warehouse
    if not isinstance(pipeline, PipelineSettings):
        pipeline = load_pipeline(pipeline)
    schema = pipeline.forecast_schema
    if not client.table_exists(schema, SUMMARY_TABLE):
        raise ChampionNotFoundError(
            f"No {schema}.{SUMMARY_TABLE} table yet: materialize the ml/backtests asset "
            "(it backtests the models listed in orchestration/pipelines.yaml) first."
        )
    summary = client.read_table(schema, SUMMARY_TABLE).to_pandas()
    return champion_of(summary, pipeline)


def champion_of(summary: pd.DataFrame, pipeline: PipelineSettings) -> ChampionChoice:
    runs = summary[summary["pipeline"] == pipeline.name]
    if runs.empty:
        raise ChampionNotFoundError(
            f"{SUMMARY_TABLE} has no backtest of pipeline {pipeline.name!r}: "
            "materialize ml/backtests with this WARECAST_PIPELINE."
        )
    newest = runs.loc[runs["created_at"].idxmax(), "backtest_run_id"]
    champion = runs[(runs["backtest_run_id"] == newest) & runs["is_champion"].astype(bool)]
    if len(champion) != 1:
        raise ChampionNotFoundError(
            f"Backtest {newest} has {len(champion)} champion rows (expected 1); re-run it."
        )
    row = champion.iloc[0]
    # A run may backtest other models than pipelines.yaml lists (`warecast run --models`):
    # its champion serves as long as warecast can still build that family.
    from ml.models import MODELS

    if row["model"] not in MODELS:
        raise ChampionNotFoundError(
            f"The newest backtest's champion {row['model']!r} is not a registered model "
            f"({sorted(MODELS)}): re-materialize ml/backtests."
        )
    return ChampionChoice(
        model=str(row["model"]),
        preset=str(row["preset"]),
        metric=str(row["selection_metric"]),
        value=float(row[row["selection_metric"]]),
        reason=str(row["reason"]),
        backtest_run_id=str(newest),
        max_history=None if pd.isna(row["max_history"]) else int(row["max_history"]),
        overrides=json.loads(row["overrides"]) if isinstance(row.get("overrides"), str) else {},
    )
