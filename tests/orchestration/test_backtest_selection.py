"""The backtest asset's place in the graph, and reading the champion back: the error paths."""

from __future__ import annotations

import dagster as dg
import pandas as pd
import pytest

from orchestration.selection import ChampionNotFoundError, champion_of, read_champion_choice
from orchestration.settings import load_pipeline


def _parents(graph, key: list[str]) -> set[str]:
    return {"/".join(p.path) for p in graph.get(dg.AssetKey(key)).parent_keys}


def test_backtests_read_the_features_and_feed_the_evaluation_marts():
    from orchestration.definitions import build_definitions

    graph = build_definitions("duckdb").resolve_asset_graph()
    assert _parents(graph, ["ml", "backtests"]) == {"marts/fct_training_features"}
    summary, points = "staging/stg_ml__backtest_summary", "staging/stg_ml__backtest_points"
    assert _parents(graph, ["marts", "fct_model_leaderboard"]) == {summary}
    assert _parents(graph, ["marts", "fct_backtest_series_accuracy"]) == {summary, points}
    for view in (summary, points):
        assert _parents(graph, view.split("/")) == {"ml/backtests"}
    checks = {
        c.name for c in graph.asset_check_keys if c.asset_key == dg.AssetKey(["ml", "backtests"])
    }
    assert any("unique_combination_ml_backtest_points" in name for name in checks)


def test_no_backtest_yet_says_what_to_materialize(warecast_home):
    from orchestration.resources import WarehouseResource

    with pytest.raises(ChampionNotFoundError, match="materialize the ml/backtests asset"):
        read_champion_choice(WarehouseResource(target="duckdb"), "aus_retail")


def _summary(rows: list[dict]) -> pd.DataFrame:
    base = {"pipeline": "aus_retail", "preset": "small", "selection_metric": "mase"}
    base |= {"reason": "r", "max_history": None, "overrides": "{}"}
    return pd.DataFrame([{**base, **row} for row in rows])


def test_the_newest_run_decides():
    summary = _summary(
        [
            {"backtest_run_id": "old", "model": "tft", "is_champion": True, "mase": 0.5,
             "created_at": pd.Timestamp("2024-01-01")},
            {"backtest_run_id": "new", "model": "tft", "is_champion": False, "mase": 1.2,
             "created_at": pd.Timestamp("2024-02-01")},
            {"backtest_run_id": "new", "model": "auto_ets", "is_champion": True, "mase": 0.9,
             "created_at": pd.Timestamp("2024-02-01"), "max_history": 120,
             "overrides": '{"max_history": 96}'},
        ]
    )  # fmt: skip
    choice = champion_of(summary, load_pipeline("aus_retail"))
    assert (choice.model, choice.backtest_run_id, choice.value) == ("auto_ets", "new", 0.9)
    assert choice.max_history == 120 and choice.overrides == {"max_history": 96}


def test_a_champion_that_is_not_a_registered_model_is_refused():
    summary = _summary(
        [{"backtest_run_id": "x", "model": "prophet", "is_champion": True, "mase": 0.1,
          "created_at": pd.Timestamp("2024-01-01")}]
    )  # fmt: skip
    with pytest.raises(ChampionNotFoundError, match="not a registered model"):
        champion_of(summary, load_pipeline("aus_retail"))
    with pytest.raises(ChampionNotFoundError, match="no backtest of pipeline"):
        champion_of(summary, load_pipeline("server_metrics_hourly"))


def test_a_champion_from_a_models_override_serves():
    """`warecast run --models ...` may pick a family pipelines.yaml does not list."""
    summary = _summary(
        [{"backtest_run_id": "x", "model": "mstl", "is_champion": True, "mase": 0.1,
          "created_at": pd.Timestamp("2024-01-01")}]
    )  # fmt: skip
    assert champion_of(summary, load_pipeline("aus_retail")).model == "mstl"
