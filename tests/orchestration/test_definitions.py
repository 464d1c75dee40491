"""The code location loads and its graph is connected end to end, as the UI shows it."""

from __future__ import annotations

import dagster as dg

from orchestration.definitions import build_definitions


def _parents(graph, key: list[str]) -> set[str]:
    return {"/".join(p.path) for p in graph.get(dg.AssetKey(key)).parent_keys}


def test_graph_runs_from_raw_to_forecast_marts():
    graph = build_definitions("duckdb").resolve_asset_graph()
    assert _parents(graph, ["staging", "stg_raw__observations"]) == {"raw/observations"}
    assert _parents(graph, ["ml", "backtests"]) == {"marts/fct_training_features"}
    # The fingerprint view gives the feature data version each model and forecast records.
    assert _parents(graph, ["ml", "trained_model"]) == {
        "marts/fct_training_features",
        "marts/fct_feature_fingerprint",
        "ml/backtests",
    }
    assert _parents(graph, ["ml", "forecasts"]) == {
        "ml/trained_model",
        "marts/fct_training_features",
        "marts/fct_feature_fingerprint",
    }
    # The marts read the tables Python writes through staging views that cast them once.
    assert "staging/stg_ml__backtest_summary" in _parents(graph, ["marts", "fct_model_leaderboard"])
    assert _parents(graph, ["staging", "stg_ml__backtest_summary"]) == {"ml/backtests"}
    assert _parents(graph, ["marts", "fct_forecasts_latest"]) == {"staging/stg_ml__forecasts"}
    assert _parents(graph, ["staging", "stg_ml__forecasts"]) == {"ml/forecasts"}
    assert "staging/stg_ml__forecasts" in _parents(graph, ["marts", "fct_forecast_vs_actual"])


def test_dbt_tests_are_asset_checks_including_the_forecast_source():
    defs = build_definitions("duckdb")
    checks = {
        (("/".join(key.asset_key.path)), key.name)
        for key in defs.resolve_asset_graph().asset_check_keys
    }
    assert any(asset == "marts/fct_training_features" for asset, _ in checks)
    assert any(asset == "ml/forecasts" and "quantiles_ordered" in name for asset, name in checks)


def test_every_target_builds_definitions():
    for target in ("duckdb", "postgres", "snowflake"):
        defs = build_definitions(target)
        assert defs.resolve_job_def("forecast_pipeline") is not None


def test_every_automation_says_why_it_is_off_and_how_to_turn_it_on():
    defs = build_definitions("duckdb")
    schedules = list(defs.schedules or [])
    # Not Dagster's freshness sensor: build_sensor_for_freshness_checks takes no description.
    ours = [s for s in defs.sensors or [] if "retrain" in s.name]
    assert schedules and len(ours) == 2
    for automation in [*schedules, *ours]:
        assert automation.default_status.value == "STOPPED", automation.name
        text = automation.description or ""
        assert "Off by default" in text and "Turn it on" in text, automation.name
