"""ml/trained_model and ml/forecasts: train from the feature mart, write forecasts back."""

from datetime import UTC, datetime

import dagster as dg
import pandas as pd
import pyarrow as pa
from dagster_dbt import get_asset_key_for_model

from orchestration.assets.dbt import relation_of, warecast_dbt_models
from orchestration.resources import WarehouseResource
from orchestration.settings import current_target, load_pipeline
from orchestration.tracking import MlflowTracking, RegisteredModel

FEATURES_MODEL = "fct_training_features"
FEATURES_KEY = get_asset_key_for_model([warecast_dbt_models], FEATURES_MODEL)
TRAINED_KEY = dg.AssetKey(["ml", "trained_model"])
FORECASTS_KEY = dg.AssetKey(["ml", "forecasts"])
FORECAST_TABLE = "forecasts"
# A re-run rewrites exactly these partitions, so forecasts are never duplicated.
FORECAST_PARTITION = ["series_id", "model_name", "forecast_origin"]


class TrainConfig(dg.Config):
    model_preset: str | None = None  # default: the pipeline's preset (orchestration/pipelines.yaml)
    max_epochs: int | None = None
    progress_bar: bool = True


def read_features(warehouse: WarehouseResource) -> pd.DataFrame:
    return warehouse.client().read_table(*relation_of(FEATURES_MODEL)).to_pandas()


@dg.asset(key=TRAINED_KEY, deps=[FEATURES_KEY], group_name="ml", kinds={"pytorch", "mlflow"})
def trained_model(
    context: dg.AssetExecutionContext,
    config: TrainConfig,
    warehouse: WarehouseResource,
    mlflow_tracking: MlflowTracking,
) -> dg.MaterializeResult:
    """A Temporal Fusion Transformer trained on the feature mart, registered in MLflow."""
    from ml.config import ForecastSpec, load_preset
    from ml.evaluation import plot_forecast_vs_actual
    from ml.models.tft import TFTForecaster

    pipeline = load_pipeline()
    preset = config.model_preset or pipeline.model_preset
    arch, training = load_preset(preset)
    if config.max_epochs:
        training = training.model_copy(update={"max_epochs": config.max_epochs})
    spec = ForecastSpec(
        horizon=pipeline.horizon, freq=pipeline.freq, season_length=pipeline.season_length
    )
    history = read_features(warehouse)
    forecaster = TFTForecaster(arch, training, progress_bar=config.progress_bar)
    report = forecaster.fit(history, spec)
    metrics = report.metrics()
    registered = mlflow_tracking.log_training(
        forecaster=forecaster,
        model_name=pipeline.model_name,
        params={
            "pipeline": pipeline.name,
            "preset": preset,
            "target": current_target(),
            "feature_table": ".".join(relation_of(FEATURES_MODEL)),
            **{f"spec.{k}": v for k, v in spec.model_dump().items()},
            **{f"arch.{k}": v for k, v in arch.model_dump().items()},
            **{f"training.{k}": v for k, v in training.model_dump().items()},
        },
        metrics=metrics,
        tags={"dagster_run_id": context.run_id, "pipeline": pipeline.name},
        figure=plot_forecast_vs_actual(history, report.validation_forecasts),
        validation_forecasts=report.validation_forecasts,
    )
    context.log.info("Registered %s version %s", registered.name, registered.version)
    return dg.MaterializeResult(
        metadata={
            "model_name": registered.name,
            "model_version": registered.version,
            "mlflow_run_id": registered.run_id,
            "series": report.n_series,
            **{k: float(v) for k, v in metrics.items()},
        }
    )


@dg.asset(key=FORECASTS_KEY, deps=[TRAINED_KEY, FEATURES_KEY], group_name="ml", kinds={"python"})
def forecasts(
    context: dg.AssetExecutionContext,
    warehouse: WarehouseResource,
    mlflow_tracking: MlflowTracking,
) -> dg.MaterializeResult:
    """p10/p50/p90 forecasts of the champion model, written back atomically with lineage."""
    pipeline = load_pipeline()
    registered, forecaster = mlflow_tracking.load_champion(pipeline.model_name)
    history = read_features(warehouse)
    frame = forecaster.predict(history)
    expected = set(history["series_id"].unique())
    table = with_lineage(frame, registered, context.run_id)
    assert_publishable(table, expected, pipeline.horizon)
    written = warehouse.client().replace_partitions(
        pipeline.forecast_schema, FORECAST_TABLE, table, FORECAST_PARTITION
    )
    return dg.MaterializeResult(
        metadata={
            "dagster/row_count": written,
            "series": len(expected),
            "table": f"{pipeline.forecast_schema}.{FORECAST_TABLE}",
            "model_version": registered.version,
            "mlflow_run_id": registered.run_id,
        }
    )


def with_lineage(frame: pd.DataFrame, registered: RegisteredModel, run_id: str) -> pa.Table:
    out = frame.copy()
    out["model_name"] = registered.name
    out["model_version"] = registered.version
    out["mlflow_run_id"] = registered.run_id
    out["created_at"] = pd.Timestamp(datetime.now(UTC).replace(tzinfo=None))
    out["dagster_run_id"] = run_id
    out["horizon_step"] = out["horizon_step"].astype("int64")
    return pa.Table.from_pandas(out, preserve_index=False)


def assert_publishable(table: pa.Table, expected_series: set[str], horizon: int) -> None:
    """Refuse to publish forecasts that would mislead a BI reader; nothing is written then."""
    frame = table.select(["series_id", "p10", "p50", "p90"]).to_pandas()
    problems = []
    if frame[["p10", "p50", "p90"]].isna().any().any():
        problems.append("NaN quantiles")
    if ((frame["p10"] > frame["p50"]) | (frame["p50"] > frame["p90"])).any():
        problems.append("quantiles out of order (need p10 <= p50 <= p90)")
    missing = expected_series - set(frame["series_id"])
    if missing:
        problems.append(f"{len(missing)} series without a forecast, e.g. {sorted(missing)[:3]}")
    if len(frame) != len(expected_series) * horizon:
        problems.append(f"{len(frame)} rows, expected {len(expected_series)} x {horizon}")
    if problems:
        raise ValueError(
            "Forecasts not published (the previous forecasts stay in place): " + "; ".join(problems)
        )
