"""Day-N wiring as the Dagster UI shows it: checks, schedule, sensors and what each job runs."""

from __future__ import annotations

import dagster as dg

from orchestration.definitions import build_definitions

RAW = dg.AssetKey(["raw", "observations"])
TRAINED = dg.AssetKey(["ml", "trained_model"])
FORECASTS = dg.AssetKey(["ml", "forecasts"])


def _selected(defs, job: str) -> set[str]:
    keys = defs.resolve_job_def(job).asset_layer.selected_asset_keys
    return {k.to_user_string() for k in keys}


def test_forecast_checks_block_and_raw_has_a_freshness_check(monkeypatch):
    monkeypatch.setenv("WARECAST_PIPELINE", "server_metrics_hourly")
    defs = build_definitions("duckdb")
    graph = defs.resolve_asset_graph()
    blocking = {key.name for key in graph.asset_check_keys if graph.get_check_spec(key).blocking}
    assert {
        "no_nan_quantiles",
        "quantiles_ordered",
        "every_series_forecast",
        "within_plausible_range",
    } <= blocking
    assert any(key.asset_key == RAW and "fresh" in key.name for key in graph.asset_check_keys)
    assert defs.resolve_sensor_def("raw_freshness_sensor") is not None


def test_schedule_refreshes_without_training_and_sensors_retrain(monkeypatch):
    monkeypatch.setenv("WARECAST_PIPELINE", "server_metrics_hourly")
    defs = build_definitions("duckdb")
    schedule = defs.resolve_schedule_def("refresh_schedule")
    assert schedule.cron_schedule == "15 * * * *"  # pipelines.yaml, server_metrics_hourly
    assert schedule.job_name == "refresh_job"

    refresh = _selected(defs, "refresh_job")
    assert {"ml/forecasts", "ml/drift", "ml/forecast_accuracy"} <= refresh
    assert {"marts/fct_training_features", "marts/fct_forecast_lineage"} <= refresh
    # An edited override seed is published by the next refresh.
    assert {"staging/forecast_overrides", "marts/fct_forecasts_published"} <= refresh
    assert not {"ml/trained_model", "raw/observations"} & refresh

    assert {"ml/trained_model", "ml/forecasts", "marts/fct_forecasts_latest"} <= _selected(
        defs, "retrain_job"
    )
    for name in ("drift_retrain_sensor", "accuracy_retrain_sensor"):
        assert defs.resolve_sensor_def(name).job_name == "retrain_job"
