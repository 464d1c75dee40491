"""The warecast code location: raw load -> dbt -> trained model -> forecasts -> forecast marts."""

from __future__ import annotations

import dagster as dg
from dagster_dbt import get_asset_key_for_model

from orchestration.assets.backtest import backtests
from orchestration.assets.dbt import dbt_resource, warecast_dbt_models
from orchestration.assets.explanations import forecast_explanations
from orchestration.assets.hierarchy import hierarchical_forecasts
from orchestration.assets.ml import forecasts, trained_model
from orchestration.assets.monitoring import drift, forecast_accuracy
from orchestration.assets.raw import RAW_KEY, raw_observations
from orchestration.checks import anomaly_share_check, raw_freshness_checks
from orchestration.dbt_models import ANOMALIES_MODEL
from orchestration.resources import WarehouseResource
from orchestration.sensors import (
    accuracy_retrain_sensor,
    drift_retrain_sensor,
    raw_freshness_sensor,
    refresh_job,
    refresh_schedule,
    retrain_job,
)
from orchestration.settings import (
    current_target,
    load_pipeline,
    mlflow_tracking_uri,
    warecast_home,
)
from orchestration.tracking import MlflowTracking

forecast_pipeline = dg.define_asset_job(
    "forecast_pipeline",
    selection=dg.AssetSelection.all(),
    description="Load raw data, build features, train, forecast, build the forecast marts.",
)


def build_definitions(target: str) -> dg.Definitions:
    """The same graph against any profiles.yml target (duckdb, postgres, snowflake)."""
    # Keeping a deployed pipeline healthy: freshness of the raw source, schedule, retrain sensors.
    max_age_hours = load_pipeline().operations.raw_max_age_hours
    freshness_checks = raw_freshness_checks(RAW_KEY, max_age_hours)
    return dg.Definitions(
        assets=[
            raw_observations,
            warecast_dbt_models,
            backtests,
            trained_model,
            forecasts,
            forecast_explanations,
            hierarchical_forecasts,
            drift,
            forecast_accuracy,
        ],
        # Warns when the newest period's actuals fall outside the bands far too often: the
        # intervals no longer mean what they say.
        asset_checks=[
            *freshness_checks,
            anomaly_share_check(get_asset_key_for_model([warecast_dbt_models], ANOMALIES_MODEL)),
        ],
        schedules=[refresh_schedule()],
        sensors=[
            drift_retrain_sensor,
            accuracy_retrain_sensor,
            raw_freshness_sensor(freshness_checks, max_age_hours),
        ],
        jobs=[forecast_pipeline, refresh_job, retrain_job],
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
