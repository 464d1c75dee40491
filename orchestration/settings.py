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
from pydantic import BaseModel, ConfigDict, Field, model_validator

from ml.backtest import BacktestConfig, ModelChoice
from ml.config import ForecastSpec
from ml.hierarchy import HierarchyConfig

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


def mlflow_ui_url() -> str:
    """Where people open the MLflow UI (`make mlflow-ui`), for links and the Dagster UI's charts;
    WARECAST_MLFLOW_UI when it is served elsewhere."""
    return (os.environ.get("WARECAST_MLFLOW_UI") or "http://127.0.0.1:5000").rstrip("/")


class OperationsSettings(BaseModel):
    """Day-N operations: schedule, drift and accuracy thresholds, forecast checks."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    refresh_cron: str = Field("0 6 * * *", description="dbt rebuild + forecast refresh (UTC)")
    raw_max_age_hours: float = Field(36.0, gt=0, description="raw/observations freshness check")
    drift_psi_threshold: float = Field(0.25, gt=0, description="PSI above it = drift")
    drift_ks_pvalue: float = Field(0.01, gt=0, lt=1, description="KS p-value below it = drift")
    drift_min_share: float = Field(
        0.2, gt=0, le=1, description="retrain when this share of series drifted (or overall)"
    )
    drift_columns: list[str] = Field(
        default_factory=lambda: ["value", "rolling_mean_short", "rolling_std_short"]
    )
    drift_min_recent: int = Field(10, gt=1, description="fewest recent rows to test a series")
    accuracy_max_ratio: float = Field(
        1.5, gt=0, description="retrain when realised MAE > ratio x the version's validation MAE"
    )
    plausible_range_factor: float = Field(
        1.0, ge=0, description="p50 within [min - f*range, max + f*range] of the series' history"
    )


class PipelineSettings(BaseModel):
    """One forecasting use case: the grain dbt aggregates to and what the model forecasts."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    name: str
    dataset: str = Field(description="default source of raw.observations")
    freq: str = Field(description="pandas offset alias of the grid, e.g. MS or h")
    horizon: int = Field(gt=0)
    season_length: int = Field(gt=0)
    extra_seasons: list[int] = Field(
        default_factory=list, description="longer seasons, e.g. [168] for hourly data's week"
    )
    units: str | None = Field(
        None,
        max_length=40,
        description="what the values measure, e.g. 'A$ million': the charts' axis",
    )
    model_name: str = "warecast_forecaster"
    forecast_schema: str = "ml"
    dbt_vars: dict = Field(default_factory=dict)
    # The models the backtest compares and how (ml/backtest.py, docs/evaluation.md).
    models: list[ModelChoice] = Field(
        default_factory=lambda: [ModelChoice(name="seasonal_naive", preset="small")]
    )
    backtest: BacktestConfig = Field(default_factory=BacktestConfig)
    # Keeping a deployed pipeline healthy: refresh schedule and retrain sensors
    # (orchestration/sensors.py), drift and accuracy monitors (assets/monitoring.py), checks.
    operations: OperationsSettings = Field(default_factory=OperationsSettings)
    # Forecasts that add up: total -> levels -> series, reconciled (ml/hierarchy.py,
    # docs/evaluation.md).
    hierarchy: HierarchyConfig | None = None

    def forecast_spec(self) -> ForecastSpec:
        """What every model of this pipeline forecasts: horizon, grid and seasons."""
        return ForecastSpec(
            horizon=self.horizon,
            freq=self.freq,
            season_length=self.season_length,
            extra_seasons=tuple(self.extra_seasons),
            short_window=int(self.dbt_var("short_window")),
        )

    def dbt_var(self, name: str):
        """A dbt var as dbt sees it: the pipeline's dbt_vars, else dbt_project.yml's default."""
        if self.dbt_vars.get(name) is not None:
            return self.dbt_vars[name]
        return _project_vars().get(name)

    def model_choice(self, entry: str) -> ModelChoice:
        """A `--models` entry: a bare name the pipeline lists means that entry (its preset,
        history bound and overrides); `name:preset` (or a name it does not list) the bare preset."""
        name, _, preset = (part.strip() for part in entry.partition(":"))
        if not preset:
            for choice in self.models:
                if choice.name == name:
                    return choice
        return ModelChoice(name=name, preset=preset or "small")

    @model_validator(mode="after")
    def _hierarchy_levels_to_dbt(self):
        """dbt's hierarchy marts read their level columns from var hierarchy_levels."""
        levels = list(self.hierarchy.levels) if self.hierarchy else []
        self.dbt_vars["hierarchy_levels"] = levels
        return self


@cache
def _project_vars() -> dict:
    project = yaml.safe_load((DBT_PROJECT_DIR / "dbt_project.yml").read_text())
    return project.get("vars") or {}


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
