"""Where warecast keeps its state and which pipeline/target a process runs.

Everything here is derived from environment variables with defaults, so the CLI, `dagster dev`
and the tests all agree without passing paths around.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from functools import cache
from pathlib import Path

import yaml
from pydantic import BaseModel, ConfigDict, Field

from ml.backtest import BacktestConfig, ModelChoice

REPO_ROOT = Path(__file__).resolve().parents[1]
DBT_PROJECT_DIR = REPO_ROOT / "dbt_project"
PROFILES_DIR = REPO_ROOT / "profiles"
PIPELINES_FILE = Path(__file__).with_name("pipelines.yaml")


def warecast_home() -> Path:
    """State folder (DuckDB file, MLflow store, Dagster storage).

    Exported to the environment so dbt (profiles.yml) and dagster.yaml resolve the same folder.
    """
    home = Path(os.environ.get("WARECAST_HOME") or REPO_ROOT / ".warecast").resolve()
    home.mkdir(parents=True, exist_ok=True)
    os.environ["WARECAST_HOME"] = str(home)
    os.environ.setdefault("DAGSTER_HOME", str(REPO_ROOT))
    os.environ["WARECAST_DAGSTER_DIR"] = str(home / "dagster")
    os.environ["WARECAST_DAGSTER_LOGS"] = str(home / "dagster" / "logs")
    return home


def current_target() -> str:
    return os.environ.get("WARECAST_TARGET", "duckdb")


def mlflow_tracking_uri() -> str:
    return os.environ.get("MLFLOW_TRACKING_URI") or f"sqlite:///{warecast_home() / 'mlflow.db'}"


class PipelineSettings(BaseModel):
    """One forecasting use case: the grain dbt aggregates to and what the model forecasts."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    name: str
    dataset: str = Field(description="default source of raw.observations")
    freq: str = Field(description="pandas offset alias of the grid, e.g. MS or h")
    horizon: int = Field(gt=0)
    season_length: int = Field(gt=0)
    model_preset: str
    model_name: str = "warecast_tft"
    forecast_schema: str = "ml"
    dbt_vars: dict = Field(default_factory=dict)
    # Issue 5: the models the backtest compares and how (ml/backtest.py, docs/evaluation.md).
    models: list[ModelChoice] = Field(
        default_factory=lambda: [ModelChoice(name="seasonal_naive", preset="small")]
    )
    backtest: BacktestConfig = Field(default_factory=BacktestConfig)


@cache
def _pipelines() -> dict[str, dict]:
    return yaml.safe_load(PIPELINES_FILE.read_text())


def available_pipelines() -> list[str]:
    return sorted(_pipelines())


def load_pipeline(name: str | None = None) -> PipelineSettings:
    name = name or os.environ.get("WARECAST_PIPELINE", "aus_retail")
    pipelines = _pipelines()
    if name not in pipelines:
        raise ValueError(
            f"Unknown pipeline {name!r} (WARECAST_PIPELINE). Choose one of {sorted(pipelines)} "
            f"or add it to {PIPELINES_FILE}."
        )
    return PipelineSettings(name=name, **pipelines[name])


@dataclass(frozen=True)
class Runtime:
    """The pipeline and warehouse target one process works with."""

    pipeline: PipelineSettings
    target: str
    home: Path

    @classmethod
    def from_env(cls) -> Runtime:
        return cls(pipeline=load_pipeline(), target=current_target(), home=warecast_home())
