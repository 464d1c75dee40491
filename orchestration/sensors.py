"""Jobs, the daily refresh schedule and the sensors that retrain when the champion degrades.

refresh_job:  dbt rebuild + forecasts with the current champion + monitoring, never training.
retrain_job:  ml/trained_model and everything downstream (forecasts, marts, monitoring).
Sensors watch the monitoring assets' materializations: a `retrain_recommended` verdict
(drift past the PSI/KS thresholds, or realised error past the accuracy ratio) requests one
retrain_job run, keyed by the verdict's run so a verdict never retrains twice. The freshness
sensor fails raw/observations' freshness check when loads stop.
"""

import warnings

import dagster as dg

from orchestration.assets.dbt import warecast_dbt_models
from orchestration.assets.ml import FORECASTS_KEY, TRAINED_KEY
from orchestration.assets.monitoring import ACCURACY_KEY, DRIFT_KEY
from orchestration.settings import load_pipeline

REASON_TAG = "warecast/retrain_reason"
# dbt seeds get the key [<schema>, <name>] like models (orchestration/assets/dbt.py).
OVERRIDES_SEED_KEY = dg.AssetKey(["staging", "forecast_overrides"])

retrain_job = dg.define_asset_job(
    "retrain_job",
    selection=dg.AssetSelection.keys(TRAINED_KEY).downstream(),
    description="Retrain the model, publish its forecasts, rebuild the marts and monitoring.",
)

_monitored = dg.AssetSelection.keys(FORECASTS_KEY, DRIFT_KEY, ACCURACY_KEY)
# The analysts' override seed (dbt_project/seeds) and what reads it: an edited CSV is published
# by the next refresh, not only by a full `warecast run`.
_overrides = dg.AssetSelection.keys(OVERRIDES_SEED_KEY).downstream()
# Only what training needs and dbt does not build: raw (loaded by `warecast load`), backtests.
_training_inputs = dg.AssetSelection.keys(TRAINED_KEY).upstream() - dg.AssetSelection.assets(
    warecast_dbt_models
)
_staging = dg.AssetSelection.key_prefixes("staging")
_refreshed = (
    (_monitored.upstream() | _monitored.downstream() | _overrides)
    - _training_inputs
    - dg.AssetSelection.keys(TRAINED_KEY)
)
refresh_job = dg.define_asset_job(
    "refresh_job",
    # The dbt models behind the forecasts and after them, the forecasts from the current
    # champion and the monitors; never training, never a raw reload. Plus the staging views the
    # refreshed marts read (stg_ml__*, e.g. the backtest points the anomaly mart reads), so no
    # mart refers to a view a partly built warehouse does not have yet.
    selection=_refreshed | (_refreshed.upstream(depth=1) & _staging),
    description="Rebuild dbt models, refresh forecasts with the current champion, monitor.",
)


# Why every automation starts off, and how to turn it on: said in each one's description.
OFF_BY_DEFAULT = (
    "Off by default: a demo or a laptop should never run jobs on its own. Turn it on here "
    "(the toggle) or with `dagster schedule/sensor start`; it runs while the Dagster daemon "
    "does (`make ui` starts one)."
)


def refresh_schedule() -> dg.ScheduleDefinition:
    """The pipeline's operations.refresh_cron (orchestration/pipelines.yaml), UTC."""
    cron = load_pipeline().operations.refresh_cron
    return dg.ScheduleDefinition(
        name="refresh_schedule",
        job=refresh_job,
        cron_schedule=cron,
        description=(
            f"Refreshes the forecasts with the current champion at `{cron}` (UTC). "
            f"{OFF_BY_DEFAULT} Change the time in orchestration/pipelines.yaml "
            "(operations.refresh_cron)."
        ),
        execution_timezone="UTC",
        default_status=dg.DefaultScheduleStatus.STOPPED,
    )


def _retrain_sensor(name: str, monitor_key: dg.AssetKey) -> dg.SensorDefinition:
    @dg.asset_sensor(
        name=name,
        asset_key=monitor_key,
        job=retrain_job,
        description=(
            f"Retrains when {monitor_key.to_user_string()} recommends it: the new version "
            f"becomes @champion only if it wins. {OFF_BY_DEFAULT}"
        ),
    )
    def _sensor(context: dg.SensorEvaluationContext, asset_event: dg.EventLogEntry):
        materialization = asset_event.asset_materialization
        metadata = materialization.metadata if materialization else {}
        verdict = metadata.get("retrain_recommended")
        reason = metadata.get("reason")
        reason_text = str(reason.value) if reason is not None else "unknown"
        if verdict is None or not verdict.value:
            return dg.SkipReason(f"{monitor_key.to_user_string()}: {reason_text}")
        return dg.RunRequest(
            run_key=f"{name}:{asset_event.run_id}",
            tags={REASON_TAG: f"{name}: {reason_text}"[:200]},
        )

    return _sensor


drift_retrain_sensor = _retrain_sensor("drift_retrain_sensor", DRIFT_KEY)
accuracy_retrain_sensor = _retrain_sensor("accuracy_retrain_sensor", ACCURACY_KEY)


def raw_freshness_sensor(checks, max_age_hours: float) -> dg.SensorDefinition:
    """Dagster's freshness-check sensor, under a description that says when and why to run it
    (build_sensor_for_freshness_checks takes none: this sensor evaluates through it)."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", category=dg.SupersessionWarning)
        dagsters = dg.build_sensor_for_freshness_checks(freshness_checks=checks)

    @dg.sensor(
        name="raw_freshness_sensor",
        asset_selection=dg.AssetSelection.checks(*checks),
        default_status=dg.DefaultSensorStatus.STOPPED,
        description=(
            f"Fails the freshness check of raw/observations when no load has landed for "
            f"{max_age_hours:g} h (operations.raw_max_age_hours in orchestration/pipelines.yaml): "
            f"a feed that stopped shows before stale forecasts do. {OFF_BY_DEFAULT}"
        ),
    )
    def _sensor(context: dg.SensorEvaluationContext):
        return dagsters(context)

    return _sensor
