"""ml/trained_model and ml/forecasts: train from the feature mart, write forecasts back.

Lineage: training records the feature table's data version (the in-warehouse fingerprint),
the dbt checksum, the git commit and the Dagster run in MLflow and in ml.model_version_history;
every forecast row carries its model version and the feature data version it conditioned on.
"""

import hashlib
import json
from datetime import UTC, datetime

import dagster as dg
import pandas as pd
import pyarrow as pa
from dagster_dbt import get_asset_key_for_model

from orchestration.assets.backtest import BACKTESTS_KEY
from orchestration.assets.dbt import feature_data_version, warecast_dbt_models
from orchestration.batched_reads import SeriesBatches, series_summary, value_range
from orchestration.checks import (
    CHECKS,
    CheckOutcome,
    as_check_results,
    evaluate_forecasts,
    forecast_check_specs,
)
from orchestration.dbt_models import (
    BLOCK_HASHES_MODEL,
    FEATURES_MODEL,
    FINGERPRINT_MODEL,
    relation_of,
)
from orchestration.forecast_refresh import (
    changed_series,
    merge_outcomes,
    read_state,
    series_hashes,
    state_table,
    with_hashes,
    write_state,
)
from orchestration.lineage import (
    ModelVersionHistory,
    VersionLineage,
    git_commit,
    record_data_version,
)
from orchestration.resources import WarehouseResource
from orchestration.selection import ChampionChoice, read_champion_choice
from orchestration.settings import PipelineSettings, current_target, load_pipeline
from orchestration.tracking import MlflowTracking, RegisteredModel, version_description
from orchestration.warehouse.loads import utc_now

FEATURES_KEY = get_asset_key_for_model([warecast_dbt_models], FEATURES_MODEL)
# The fingerprint view is read for the data version: a dep, so dbt builds it first.
FINGERPRINT_KEY = get_asset_key_for_model([warecast_dbt_models], FINGERPRINT_MODEL)
TRAINED_KEY = dg.AssetKey(["ml", "trained_model"])
FORECASTS_KEY = dg.AssetKey(["ml", "forecasts"])
FORECAST_TABLE = "forecasts"
# A re-run rewrites exactly these partitions, so forecasts are never duplicated.
FORECAST_PARTITION = ["series_id", "model_name", "forecast_origin"]


class TrainConfig(dg.Config):
    # Overrides for the champion family chosen by ml/backtests (orchestration/pipelines.yaml).
    model_preset: str | None = None  # e.g. "tiny" in tests; default: the preset it won with
    max_epochs: int | None = None  # neural families only
    progress_bar: bool = True
    # Train and register even when the champion was trained on the same data and config.
    retrain: bool = False


def read_features(warehouse: WarehouseResource) -> pd.DataFrame:
    return warehouse.client().read_table(*relation_of(FEATURES_MODEL)).to_pandas()


def build_forecaster(pipeline: PipelineSettings, config: TrainConfig, choice: ChampionChoice):
    """(forecaster, spec, params to log): the backtest's champion family, to train on all data."""
    from ml.models import create_forecaster, registry

    preset = config.model_preset or choice.preset
    overrides = dict(choice.overrides)
    # Neural families train with Lightning; statistical ones have no epochs or progress bar.
    if registry()[choice.model].supports_gpu:
        overrides["progress_bar"] = config.progress_bar
        if config.max_epochs:
            overrides["max_epochs"] = config.max_epochs
    spec = pipeline.forecast_spec()
    params = {
        "model": choice.model,
        "preset": preset,
        **{f"override.{k}": v for k, v in overrides.items()},
        **{f"spec.{k}": v for k, v in spec.model_dump().items()},
    }
    return create_forecaster(choice.model, preset, **overrides), spec, params


@dg.asset(
    key=TRAINED_KEY,
    deps=[FEATURES_KEY, FINGERPRINT_KEY, BACKTESTS_KEY],
    group_name="ml",
    kinds={"pytorch", "mlflow"},
)
def trained_model(
    context: dg.AssetExecutionContext,
    config: TrainConfig,
    warehouse: WarehouseResource,
    mlflow_tracking: MlflowTracking,
) -> dg.MaterializeResult:
    """The backtest's champion family trained on the whole feature mart, registered in MLflow
    with its data lineage and promoted to @champion with the backtest's reason.

    Idempotent: when the champion was trained on this feature data version with this family
    and config, it is reused, not trained and registered again. The check, the training and the
    promotion hold the warehouse's lock `champion:<model>` (Warehouse.exclusive), so two runs
    at once take turns and the second reuses what the first registered."""
    pipeline = load_pipeline()
    choice = read_champion_choice(warehouse, pipeline)
    forecaster, spec, params = build_forecaster(pipeline, config, choice)
    lock = f"champion:{pipeline.model_name}"
    with warehouse.client().exclusive(lock, on_wait=context.log.info):
        data = feature_data_version(warehouse)
        identity = training_identity(pipeline.name, data.data_version, choice.model, params)
        found = None
        if not config.retrain:
            found = mlflow_tracking.champion_trained_like(pipeline.model_name, identity)
        if found is not None:
            return reused_champion(context, *found)
        context.log.info("Training the backtest champion: %s", choice.reason)
        built = (forecaster, spec, params)
        return train_and_register(
            context, warehouse, mlflow_tracking, built, choice, data, identity
        )


def training_identity(pipeline: str, data_version: str, family: str, params: dict) -> dict:
    """The version tags that make two trainings the same: the pipeline, the feature data
    version, the family and a hash of its whole config (preset, overrides, spec; not the
    progress bar)."""
    config = {k: v for k, v in params.items() if k != "override.progress_bar"}
    text = json.dumps(config, sort_keys=True, default=str)
    return {
        "pipeline": pipeline,
        "feature_data_version": data_version,
        "model_family": family,
        "training_config": hashlib.sha256(text.encode()).hexdigest()[:20],
    }


def _version_metadata(registered: RegisteredModel) -> dict[str, str]:
    return {
        "model_name": registered.name,
        "model_version": registered.version,
        "mlflow_run_id": registered.run_id,
    }


def reused_champion(
    context: dg.AssetExecutionContext,
    registered: RegisteredModel,
    tags: dict[str, str],
    metrics: dict[str, float],
) -> dg.MaterializeResult:
    context.log.info(
        "Reusing %s version %s: the champion was trained on feature data version %s with the "
        "same family (%s) and config; nothing trained or registered.",
        registered.name,
        registered.version,
        tags.get("feature_data_version"),
        tags.get("model_family"),
    )
    return dg.MaterializeResult(
        metadata={
            "reused_champion": True,
            **_version_metadata(registered),
            **{k: tags.get(k, "") for k in REUSED_TAGS},
            **{k: float(v) for k, v in metrics.items()},
        }
    )


# Version tags repeated in the metadata of a reused champion, as a training reports them.
REUSED_TAGS = ("feature_data_version", "model_family", "model_detail", "champion_reason")


def train_and_register(
    context, warehouse, mlflow_tracking, built, choice, data, identity: dict
) -> dg.MaterializeResult:
    """Train on all data, register the version (with `identity` among its tags), promote it."""
    from ml.evaluation import plot_forecast_vs_actual

    forecaster, spec, params = built
    pipeline = load_pipeline()
    client, features = warehouse.client(), relation_of(FEATURES_MODEL)
    tail = forecaster.fit_history(spec)  # e.g. LightGBM's train_history: not the whole table
    batches = SeriesBatches(client, *features, tail=tail, freq=spec.freq)
    report, history = fit_in_batches(forecaster, spec, batches)
    metrics = report.metrics()
    lineage = VersionLineage(
        mlflow_run_id="",  # known once the run exists; the version's tags carry it
        trained_at=utc_now(),
        train_end=pd.Timestamp(batches.last_ts).to_pydatetime(),
        feature_table=data.feature_table,
        feature_data_version=data.data_version,
        dbt_checksum=data.dbt_checksum,
        git_commit=git_commit(),
        dagster_run_id=context.run_id,
        backtest_metric_name=choice.metric,
        backtest_metric=choice.value,
    )
    tags = {k: v for k, v in lineage.as_tags().items() if k != "mlflow_run_id"}
    registered = mlflow_tracking.log_training(
        forecaster=forecaster,
        model_name=pipeline.model_name,
        params={
            "pipeline": pipeline.name,
            "target": current_target(),
            "feature_table": data.feature_table,
            "feature_data_version": data.data_version,
            **params,
        },
        metrics=metrics,
        tags={
            **tags,
            **identity,
            "model_detail": forecaster.describe(),
            "backtest_run_id": choice.backtest_run_id,
            "champion_reason": choice.reason,
        },
        figure=plot_forecast_vs_actual(history, report.validation_forecasts),
        validation_forecasts=report.validation_forecasts,
        history=history,
        description=version_description(forecaster.describe(), choice, data, metrics),
    )
    client = warehouse.client()
    record_data_version(client, pipeline.forecast_schema, data)
    history_table = ModelVersionHistory(client, pipeline.forecast_schema)
    version_lineage = mlflow_tracking.version_lineage(registered.name, registered.version)
    detail = forecaster.describe()  # an ensemble: which members, with which presets
    history_table.record(
        registered.name, registered.version, "registered", f"trained {detail}", version_lineage
    )
    reason = (
        choice.reason if detail == choice.model else f"{choice.reason} {choice.model}: {detail}."
    )
    # The backtest chose this family on shared cutoffs; its refit on all data now serves.
    mlflow_tracking.promote(registered.name, registered.version, reason, history_table)
    context.log.info("Registered %s version %s", registered.name, registered.version)
    return dg.MaterializeResult(
        metadata={
            "reused_champion": False,
            **_version_metadata(registered),
            "feature_data_version": data.data_version,
            "model_family": choice.model,
            "model_detail": detail,
            "champion_reason": reason,
            "series": report.n_series,
            **{k: float(v) for k, v in metrics.items()},
        }
    )


@dg.asset(
    key=FORECASTS_KEY,
    deps=[TRAINED_KEY, FEATURES_KEY, FINGERPRINT_KEY],
    group_name="ml",
    kinds={"python"},
    check_specs=forecast_check_specs(FORECASTS_KEY),
)
def forecasts(
    context: dg.AssetExecutionContext,
    warehouse: WarehouseResource,
    mlflow_tracking: MlflowTracking,
):
    """p10/p50/p90 forecasts of the champion model, checked, then written back atomically.

    Only series whose features changed since their forecasts were written, or that an older
    champion version forecast, are forecast again (orchestration/forecast_refresh.py), batch by
    batch; every other series keeps its rows and their lineage."""
    pipeline = load_pipeline()
    registered, forecaster = mlflow_tracking.load_champion(pipeline.model_name)
    client = warehouse.client()
    features = relation_of(FEATURES_MODEL)
    hashes = series_hashes(client, block_hashes_relation())
    summary = with_hashes(series_summary(client, *features), hashes)
    data = feature_data_version(warehouse)
    state = read_state(client, pipeline.forecast_schema, registered.name)
    changed = changed_series(summary, state, registered.version)
    batches = forecast_batches(client, features, forecaster, summary, changed, pipeline.freq)
    context.log.info(
        "Forecasting %d of %d series (features changed or a new champion) in %d batch(es)",
        len(changed),
        len(summary),
        len(batches.groups),
    )
    frames, per_batch = [], []
    for history in batches():
        frames.append(forecaster.predict(history))
        # The checks see each series' whole range (the batch may be only its recent tail).
        checked = value_range(summary, history["series_id"])
        per_batch.append(
            evaluate_forecasts(
                frames[-1], checked, pipeline.horizon, pipeline.operations.plausible_range_factor
            )
        )
    outcomes = merge_outcomes(per_batch) if per_batch else nothing_to_check()
    yield from as_check_results(outcomes, FORECASTS_KEY)
    failed = [f"{o.name}: {o.detail}" for o in outcomes if not o.passed]
    if failed:
        raise dg.Failure(
            "Forecasts not published (the previous forecasts stay in place): " + "; ".join(failed)
        )
    record_data_version(client, pipeline.forecast_schema, data)
    written, plots = 0, {}
    if frames:
        frame = pd.concat(frames, ignore_index=True)
        table = with_lineage(frame, registered, context.run_id, data.data_version)
        written = client.replace_partitions(
            pipeline.forecast_schema, FORECAST_TABLE, table, FORECAST_PARTITION
        )
        ids = {"dagster_run_id": context.run_id, "created_at": table["created_at"][0].as_py()}
        states = state_table(summary, changed, registered.name, registered.version, ids)
        write_state(client, pipeline.forecast_schema, states)
        from orchestration.plots_metadata import forecast_plot_metadata

        # A fan chart of a few series, so a reader sees the bands without SQL; also an artefact
        # of the version's run.
        plots = forecast_plot_metadata(warehouse, frame, mlflow_tracking, registered.run_id)
    yield dg.MaterializeResult(
        metadata={
            **plots,  # first: the UI lists the entries in this order, the chart on top
            "dagster/row_count": written,
            "series": len(summary),
            "series_refreshed": len(changed),
            "series_kept": len(summary) - len(changed),
            "table": f"{pipeline.forecast_schema}.{FORECAST_TABLE}",
            "model_version": registered.version,
            "mlflow_run_id": registered.run_id,
            "feature_data_version": data.data_version,
        }
    )


def fit_in_batches(forecaster, spec, batches: SeriesBatches):
    """(report, a frame of history for the report's figure), memory bounded where the model
    allows it: a global model trained from batches samples rows batch by batch; per-series
    (statsforecast) models learn nothing before predict(), so their held-out report covers the
    first batch; other models (networks, ensembles) read the whole table, as before."""
    from ml.batched import BATCHED, LOCAL, kind_of

    kind = kind_of(forecaster)
    if kind == BATCHED:
        report = forecaster.fit_batches(
            batches, spec, n_series=batches.n_series, newest=batches.last_ts
        )
        return report, batches.read(batches.groups[0])
    if kind == LOCAL:
        first = batches.read(batches.groups[0])
        report = forecaster.fit(first, spec)
        report.n_series = batches.n_series
        return report, first
    history = pd.concat(list(batches()), ignore_index=True)
    return forecaster.fit(history, spec), history


def forecast_batches(client, features, forecaster, summary, changed: set[str], freq: str):
    """The changed series in batches, each series only as far back as the model's predict()
    reads; one batch for models that are not batch-wise."""
    from ml.batched import WHOLE, history_needed, kind_of

    rows = int(summary["n_rows"].sum()) + 1 if kind_of(forecaster) == WHOLE else None
    tail = history_needed(forecaster)
    return SeriesBatches(
        client, *features, summary=summary, rows=rows, only=changed, tail=tail, freq=freq
    )


def block_hashes_relation() -> tuple[str, str] | None:
    """dbt's per-(series, block) feature hashes, where the project builds them."""
    try:
        return relation_of(BLOCK_HASHES_MODEL)
    except KeyError:
        return None


def nothing_to_check() -> list[CheckOutcome]:
    detail = "no series changed: nothing forecast"
    return [CheckOutcome(name, True, text, detail) for name, text in CHECKS.items()]


def with_lineage(
    frame: pd.DataFrame, registered: RegisteredModel, run_id: str, data_version: str
) -> pa.Table:
    out = frame.copy()
    out["model_name"] = registered.name
    out["model_version"] = registered.version
    out["mlflow_run_id"] = registered.run_id
    out["created_at"] = pd.Timestamp(datetime.now(UTC).replace(tzinfo=None))
    out["dagster_run_id"] = run_id
    out["feature_data_version"] = data_version
    out["horizon_step"] = out["horizon_step"].astype("int64")
    return pa.Table.from_pandas(out, preserve_index=False)
