"""Lineage and day-N operations, for real, on DuckDB and on a real PostgreSQL server.

One persistent Dagster instance per warehouse and one story (the synthetic server-metrics use
case, 4 series, tiny TFT):
  1. train + forecast: a forecast row traces by SQL to its model version and data versions;
  2. one raw value changes: the feature data version changes and Dagster marks the model stale;
  3. the `degrading` scenario arrives: the daily refresh's monitors find drift and worse
     accuracy, and both sensors request a run of retrain_job;
  4. retrain, then `warecast rollback` to version 1: the forecasts are rewritten with version 1
     and the history shows both versions, the promotion and the rollback.
"""

from __future__ import annotations

import dagster as dg
import pandas as pd
import pytest

from ml.synthetic import generate_server_metrics
from tests.run_configs import TINY_BACKTEST, TINY_TRAINING

N_SERIES, N_HOURS, CUT, HORIZON = 4, 336, 252, 48
MODEL = "warecast_forecaster"
TRAINED = dg.AssetKey(["ml", "trained_model"])
FEATURES = dg.AssetKey(["marts", "fct_training_features"])
FINGERPRINT = dg.AssetKey(["marts", "fct_feature_fingerprint"])
MARTS = [
    dg.AssetKey(["marts", name])
    for name in ("fct_forecast_lineage", "fct_forecasts_latest", "fct_forecast_vs_actual")
]
MONITORS = [dg.AssetKey(["ml", "drift"]), dg.AssetKey(["ml", "forecast_accuracy"])]
TINY = TINY_TRAINING

# What a BI user runs to trace a forecast (docs/lineage.md): one row, every link.
TRACE_SQL = """
select
    l.series_id, l.target_ts, l.p50,
    l.model_version, l.mlflow_run_id, l.trained_at, l.git_commit,
    l.training_data_version, l.training_row_count, l.training_max_ts,
    l.input_data_version, l.input_max_ts
from marts.fct_forecast_lineage as l
where l.series_id = 'server_0' and l.horizon_step = 1
"""

pytestmark = [pytest.mark.e2e, pytest.mark.timeout(1200)]


@pytest.fixture(scope="module")
def scenario() -> dict[str, pd.DataFrame]:
    """Healthy history; then the same servers start leaking memory (the degrading scenario)."""
    healthy = generate_server_metrics(N_SERIES, N_HOURS, scenario="healthy", seed=11)
    degrading = generate_server_metrics(N_SERIES, N_HOURS, scenario="degrading", seed=11)
    cut_ts = healthy["ts"].min() + pd.Timedelta(hours=CUT - 1)
    arrived = pd.concat([healthy[healthy["ts"] <= cut_ts], degrading[degrading["ts"] > cut_ts]])
    return {"history": healthy[healthy["ts"] <= cut_ts], "arrived": arrived}


def _parquet(frame: pd.DataFrame, path) -> dict:
    frame.to_parquet(path, index=False)
    return {"config": {"dataset": "file", "path": str(path)}}


def _materialize(defs, instance, keys, ops=None):
    job = defs.resolve_job_def("forecast_pipeline")
    selection = dg.AssetSelection.keys(*keys).upstream().resolve(defs.resolve_asset_graph())
    result = job.execute_in_process(
        run_config={"ops": ops or {}}, instance=instance, asset_selection=list(selection)
    )
    assert result.success
    return result


def _data_version(instance, key: dg.AssetKey) -> str:
    event = instance.get_latest_materialization_event(key)
    return event.asset_materialization.tags["dagster/data_version"]


def _table(defs, schema: str, table: str) -> pd.DataFrame:
    return defs.resources["warehouse"].client().read_table(schema, table).to_pandas()


def _sql(defs, sql: str) -> pd.DataFrame:
    with defs.resources["warehouse"].client().session() as session:
        return session.fetch_arrow(sql).to_pandas()


@pytest.mark.parametrize("target", ["duckdb", pytest.param("postgres", marks=pytest.mark.postgres)])
def test_lineage_and_day_n(target, request, warecast_home, monkeypatch, tmp_path, scenario):
    if target == "postgres":
        request.getfixturevalue("pg_database")
    monkeypatch.setenv("WARECAST_PIPELINE", "server_metrics_hourly")
    from orchestration.definitions import build_definitions

    defs = build_definitions(target)
    with dg.instance_for_test() as instance:
        raw = _parquet(scenario["history"], tmp_path / "history.parquet")
        first = _materialize(
            defs,
            instance,
            MARTS + MONITORS,
            {"raw__observations": raw, "ml__backtests": TINY_BACKTEST, "ml__trained_model": TINY},
        )
        _assert_traceable(defs, instance, first)
        _assert_sensors(defs, instance, expect_request=False)

        _assert_one_raw_value_makes_model_stale(defs, instance, scenario["history"], tmp_path)

        arrived = _parquet(scenario["arrived"], tmp_path / "arrived.parquet")
        _materialize(defs, instance, [FINGERPRINT], {"raw__observations": arrived})
        refresh = defs.resolve_job_def("refresh_job").execute_in_process(instance=instance)
        assert refresh.success
        drift = _table(defs, "ml", "drift_results")
        overall = drift[(drift["series_id"] == "__all__") & (drift["column_name"] == "value")]
        assert bool(overall["drifted"].iloc[-1]) and overall["psi"].iloc[-1] > 0.25
        _assert_sensors(defs, instance, expect_request=True)

        _assert_retrain_then_rollback(defs, instance)


def _assert_traceable(defs, instance, result) -> None:
    from orchestration.lineage import stale_status

    trained = result.asset_materializations_for_node("ml__trained_model")[0].metadata
    version, run_id = trained["model_version"].value, trained["mlflow_run_id"].value
    data_version = _data_version(instance, FEATURES)
    assert trained["feature_data_version"].value == data_version

    traced = _sql(defs, TRACE_SQL)
    assert len(traced) == 1
    row = traced.iloc[0]
    assert (row["model_version"], row["mlflow_run_id"]) == (version, run_id)
    assert row["training_data_version"] == row["input_data_version"] == data_version
    features = _table(defs, "marts", "fct_training_features")
    assert row["training_row_count"] == len(features)
    assert pd.Timestamp(row["training_max_ts"]) == features["ts"].max()

    lineage = _table(defs, "marts", "fct_forecast_lineage")
    assert len(lineage) == N_SERIES * HORIZON and lineage["model_is_champion"].all()
    _assert_mlflow_lineage(run_id, version, data_version, result.run_id)
    assert stale_status(instance, defs, TRAINED) == "FRESH"


def _assert_mlflow_lineage(run_id, version, data_version, dagster_run_id) -> None:
    import mlflow
    from mlflow import MlflowClient

    from orchestration.settings import mlflow_tracking_uri

    mlflow.set_tracking_uri(mlflow_tracking_uri())
    client = MlflowClient()
    for tags in (client.get_run(run_id).data.tags, client.get_model_version(MODEL, version).tags):
        assert tags["feature_data_version"] == data_version
        assert tags["feature_table"].endswith("fct_training_features")
        assert tags["dagster_run_id"] == dagster_run_id
        assert len(tags["dbt_checksum"]) == 64 and tags["git_commit"]


def _assert_one_raw_value_makes_model_stale(defs, instance, history, tmp_path) -> None:
    from orchestration.lineage import stale_causes, stale_status

    before = _data_version(instance, FEATURES)
    changed = history.copy()
    changed.loc[changed.index[5], "value"] += 1.0
    raw = _parquet(changed, tmp_path / "changed.parquet")
    _materialize(defs, instance, [FINGERPRINT], {"raw__observations": raw})
    assert _data_version(instance, FEATURES) != before
    assert stale_status(instance, defs, TRAINED) == "STALE"
    causes = stale_causes(instance, defs, TRAINED)
    assert any("marts/fct_training_features" in cause for cause in causes), causes


def _assert_sensors(defs, instance, expect_request: bool) -> None:
    from orchestration.sensors import accuracy_retrain_sensor, drift_retrain_sensor

    for sensor in (drift_retrain_sensor, accuracy_retrain_sensor):
        assert sensor.job_name == "retrain_job"
        context = dg.build_sensor_context(instance=instance, definitions=defs)
        requests = sensor.evaluate_tick(context).run_requests
        assert len(requests) == (1 if expect_request else 0), sensor.name


def _assert_retrain_then_rollback(defs, instance) -> None:
    from orchestration.cli import rollback

    retrain = defs.resolve_job_def("retrain_job").execute_in_process(
        run_config={"ops": {"ml__trained_model": TINY}}, instance=instance
    )
    assert retrain.success
    newest = _table(defs, "marts", "fct_forecasts_latest")
    assert set(newest["model_version"]) == {"2"}

    assert rollback(defs, instance, MODEL, "1", reason="v2 looks wrong").success
    latest = _table(defs, "marts", "fct_forecasts_latest")
    assert set(latest["model_version"]) == {"1"} and len(latest) == N_SERIES * HORIZON
    assert (latest["forecast_origin"] == newest["forecast_origin"].max()).all()

    history = _table(defs, "ml", "model_version_history").sort_values("event_at")
    events = list(zip(history["model_version"], history["event"], strict=True))
    assert events == [
        ("1", "registered"),
        ("1", "promoted"),
        ("2", "registered"),
        ("2", "promoted"),
        ("1", "rolled_back"),
    ]
    assert history["reason"].iloc[-1] == "v2 looks wrong"
    versions = _table(defs, "marts", "dim_model_versions").set_index("model_version")
    assert bool(versions.loc["1", "is_champion"]) and not bool(versions.loc["2", "is_champion"])
    assert versions.loc["1", "times_promoted"] == 2
