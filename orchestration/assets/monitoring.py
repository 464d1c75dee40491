"""ml/drift and ml/forecast_accuracy: is the champion still fit for the data it forecasts?

Both compare against the champion's own training: drift compares the feature mart's rows after
the training window with the rows inside it; accuracy compares realised errors
(marts.fct_forecast_vs_actual) with the version's validation error. Each records
`retrain_recommended` on its materialization, which orchestration/sensors.py turns into a run.
"""

import dagster as dg
import pandas as pd
import pyarrow as pa
from dagster_dbt import get_asset_key_for_model

from orchestration.assets.dbt import warecast_dbt_models
from orchestration.assets.ml import FEATURES_KEY, TRAINED_KEY, read_features
from orchestration.dbt_models import VERSUS_MODEL, relation_of
from orchestration.resources import WarehouseResource
from orchestration.settings import load_pipeline
from orchestration.tracking import MlflowTracking
from orchestration.warehouse.loads import utc_now

DRIFT_KEY = dg.AssetKey(["ml", "drift"])
ACCURACY_KEY = dg.AssetKey(["ml", "forecast_accuracy"])
DRIFT_TABLE = "drift_results"
VERSUS_KEY = get_asset_key_for_model([warecast_dbt_models], VERSUS_MODEL)
TARGET = "value"


@dg.asset(key=DRIFT_KEY, deps=[FEATURES_KEY, TRAINED_KEY], group_name="monitoring")
def drift(
    context: dg.AssetExecutionContext,
    warehouse: WarehouseResource,
    mlflow_tracking: MlflowTracking,
) -> dg.MaterializeResult:
    """PSI and KS of recent data vs the champion's training window, per series and overall."""
    from ml.drift import DriftThresholds, drift_table, drift_verdict

    pipeline = load_pipeline()
    ops = pipeline.operations
    champion = _champion_or_fail(mlflow_tracking, pipeline.model_name)
    train_end = mlflow_tracking.version_lineage(champion.name, champion.version).train_end
    features = read_features(warehouse)
    reference = features[features["ts"] <= pd.Timestamp(train_end)]
    recent = features[features["ts"] > pd.Timestamp(train_end)]
    if recent.empty:
        return _no_verdict(f"no data after the training window (ends {train_end})")
    thresholds = DriftThresholds(ops.drift_psi_threshold, ops.drift_ks_pvalue, ops.drift_min_recent)
    table = drift_table(reference, recent, list(ops.drift_columns), thresholds)
    retrain, share = drift_verdict(table, TARGET, ops.drift_min_share)
    table.insert(0, "checked_at", pd.Timestamp(utc_now()))
    table.insert(1, "model_name", champion.name)
    table.insert(2, "model_version", champion.version)
    # Each check appends its own rows (the partition is checked_at): a history of drift.
    warehouse.client().replace_partitions(
        pipeline.forecast_schema,
        DRIFT_TABLE,
        pa.Table.from_pandas(table, preserve_index=False),
        ["checked_at"],
    )
    overall = table[(table["series_id"] == "__all__") & (table["column_name"] == TARGET)]
    context.log.info("Drift: %.0f%% of series drifted; retrain=%s", 100 * share, retrain)
    return dg.MaterializeResult(
        metadata={
            "retrain_recommended": retrain,
            "reason": f"drift in {share:.0%} of series" if retrain else "no drift",
            "drifted_share": share,
            "overall_psi": float(overall["psi"].iloc[0]),
            "overall_ks_pvalue": float(overall["ks_pvalue"].iloc[0]),
            "model_version": champion.version,
            "recent_rows": len(recent),
            "table": f"{pipeline.forecast_schema}.{DRIFT_TABLE}",
        }
    )


@dg.asset(key=ACCURACY_KEY, deps=[VERSUS_KEY, TRAINED_KEY], group_name="monitoring")
def forecast_accuracy(
    context: dg.AssetExecutionContext,
    warehouse: WarehouseResource,
    mlflow_tracking: MlflowTracking,
) -> dg.MaterializeResult:
    """Realised MAE of the champion's published forecasts vs its validation MAE."""
    from ml.drift import accuracy_degraded, realised_mae

    pipeline = load_pipeline()
    champion = _champion_or_fail(mlflow_tracking, pipeline.model_name)
    versus = warehouse.client().read_table(*relation_of(VERSUS_MODEL)).to_pandas()
    mine = versus[
        (versus["model_name"] == champion.name) & (versus["model_version"] == champion.version)
    ]
    if mine.empty:
        return _no_verdict(f"no actuals yet for version {champion.version}'s forecasts")
    realised = realised_mae(mine)
    metrics = mlflow_tracking.run_metrics(champion.run_id)
    validation = metrics.get("val_mae", float("nan"))
    ratio_limit = pipeline.operations.accuracy_max_ratio
    retrain = accuracy_degraded(realised, validation, ratio_limit)
    context.log.info(
        "Realised MAE %.4g vs validation %.4g: retrain=%s", realised, validation, retrain
    )
    return dg.MaterializeResult(
        metadata={
            "retrain_recommended": retrain,
            "reason": (
                f"realised MAE {realised:.4g} > {ratio_limit} x validation MAE {validation:.4g}"
                if retrain
                else "accuracy within limits"
            ),
            "realised_mae": realised,
            "validation_mae": float(validation),
            "rows_with_actuals": len(mine),
            "model_version": champion.version,
        }
    )


def _champion_or_fail(tracking: MlflowTracking, model_name: str):
    champion = tracking.champion(model_name)
    if champion is None:
        raise dg.Failure(
            f"No @champion version of {model_name!r} yet: materialize ml/trained_model first."
        )
    return champion


def _no_verdict(reason: str) -> dg.MaterializeResult:
    return dg.MaterializeResult(metadata={"retrain_recommended": False, "reason": reason})
