"""The warecast code location: raw load -> dbt -> trained model -> forecasts -> forecast marts."""

from __future__ import annotations

import dagster as dg

from orchestration.assets.backtest import backtests
from orchestration.assets.dbt import dbt_resource, warecast_dbt_models
from orchestration.assets.ml import forecasts, trained_model
from orchestration.assets.raw import raw_observations
from orchestration.resources import WarehouseResource
from orchestration.settings import current_target, mlflow_tracking_uri, warecast_home
from orchestration.tracking import MlflowTracking

forecast_pipeline = dg.define_asset_job(
    "forecast_pipeline",
    selection=dg.AssetSelection.all(),
    description="Load raw data, build features, train, forecast, build the forecast marts.",
)


def build_definitions(target: str) -> dg.Definitions:
    """The same graph against any profiles.yml target (duckdb, postgres, snowflake)."""
    return dg.Definitions(
        assets=[raw_observations, warecast_dbt_models, backtests, trained_model, forecasts],
        jobs=[forecast_pipeline],
        resources={
            "warehouse": WarehouseResource(target=target),
            "dbt": dbt_resource(target),
            "mlflow_tracking": MlflowTracking(
                tracking_uri=mlflow_tracking_uri(),
                artifact_root=str(warecast_home() / "mlartifacts"),
            ),
        },
        # One process: DuckDB allows a single writer, and torch is imported once per run.
        executor=dg.in_process_executor,
    )


defs = build_definitions(current_target())
