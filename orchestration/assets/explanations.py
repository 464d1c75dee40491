"""ml/forecast_explanations: what drove the champion's forecast, as a warehouse table and a plot.

The champion (`@champion`) is loaded, explained on the same feature rows ml/forecasts gave it
(ml/explain.py: LightGBM gain and TreeSHAP contributions, MSTL and ETS components; an
ensemble's explainable members), written to `<forecast_schema>.forecast_explanations` (a run
replaces the rows of the same model version) and drawn as a bar chart, attached to the
materialization and logged to the version's MLflow run. dbt's `fct_forecast_explanations`
exposes it to BI, joinable to the forecasts on (series_id, model_name, model_version).
"""

from datetime import UTC, datetime

import dagster as dg
import pandas as pd
import pyarrow as pa

from orchestration.assets.ml import FEATURES_KEY, FORECASTS_KEY, TRAINED_KEY
from orchestration.batched_reads import SeriesBatches
from orchestration.dbt_models import FEATURES_MODEL, relation_of
from orchestration.plots_metadata import explanation_plot_metadata
from orchestration.resources import WarehouseResource
from orchestration.settings import load_pipeline
from orchestration.tracking import MlflowTracking, RegisteredModel

EXPLANATIONS_KEY = dg.AssetKey(["ml", "forecast_explanations"])
EXPLANATIONS_TABLE = "forecast_explanations"
# A re-run for the same model version replaces its rows (the newest forecast's explanation).
EXPLANATIONS_PARTITION = ["model_name", "model_version"]
EXPLANATIONS_SCHEMA = pa.schema(
    [
        ("series_id", pa.string()),
        ("explained_model", pa.string()),
        ("component", pa.string()),
        ("horizon_step", pa.int64()),
        ("value", pa.float64()),
        ("kind", pa.string()),
        ("forecast_origin", pa.timestamp("us")),
        ("model_name", pa.string()),
        ("model_version", pa.string()),
        ("mlflow_run_id", pa.string()),
        ("created_at", pa.timestamp("us")),
        ("dagster_run_id", pa.string()),
    ]
)


@dg.asset(
    key=EXPLANATIONS_KEY,
    deps=[FORECASTS_KEY, TRAINED_KEY, FEATURES_KEY],
    group_name="ml",
    kinds={"python", "mlflow"},
)
def forecast_explanations(
    context: dg.AssetExecutionContext,
    warehouse: WarehouseResource,
    mlflow_tracking: MlflowTracking,
) -> dg.MaterializeResult:
    """Explanations of the champion's forecast (long format) for the families that have them."""
    from ml.explain import combine, explain, unexplained

    pipeline = load_pipeline()
    registered, forecaster = mlflow_tracking.load_champion(pipeline.model_name)
    # Batches of whole series, as ml/forecasts reads them: memory follows the batch.
    batches = SeriesBatches(warehouse.client(), *relation_of(FEATURES_MODEL))
    parts, origins = [], []
    for history in batches():
        parts.append(explain(forecaster, history))
        origins.append(history.groupby("series_id")["ts"].max())
    rows = combine(parts)
    skipped = unexplained(forecaster)
    if skipped:
        context.log.info("No explanation from %s (ml/explain.py says which can)", skipped)
    origin = pd.concat(origins) if origins else pd.Series(dtype="datetime64[us]")
    table = explanation_table(rows, origin, registered, context.run_id)
    written = warehouse.client().replace_partitions(
        pipeline.forecast_schema, EXPLANATIONS_TABLE, table, EXPLANATIONS_PARTITION
    )
    metadata = {
        "dagster/row_count": written,
        "table": f"{pipeline.forecast_schema}.{EXPLANATIONS_TABLE}",
        "model_version": registered.version,
        "mlflow_run_id": registered.run_id,
        "explained": sorted(set(rows["explained_model"])),
        "not_explainable": skipped,
    }
    if not rows.empty:
        metadata |= explanation_plot_metadata(rows, mlflow_tracking, registered.run_id)
    return dg.MaterializeResult(metadata=metadata)


def explanation_table(
    rows: pd.DataFrame, origins: pd.Series, registered: RegisteredModel, run_id: str
) -> pa.Table:
    """The explanation rows with their lineage; always this schema, even with no rows."""
    out = rows.copy()
    out["forecast_origin"] = out["series_id"].map(origins)  # none for '__global__' rows
    out["model_name"] = registered.name
    out["model_version"] = registered.version
    out["mlflow_run_id"] = registered.run_id
    out["created_at"] = pd.Timestamp(datetime.now(UTC).replace(tzinfo=None))
    out["dagster_run_id"] = run_id
    if out.empty:
        # No explainable family: nothing to write, but the table exists for the dbt view.
        return pa.Table.from_pylist([], schema=EXPLANATIONS_SCHEMA)
    return pa.Table.from_pandas(
        out[EXPLANATIONS_SCHEMA.names], schema=EXPLANATIONS_SCHEMA, preserve_index=False
    )
