"""The code location loads and its graph is connected end to end, as the UI shows it."""

from __future__ import annotations

import itertools

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
    sensors = list(defs.sensors or [])
    assert schedules and len(sensors) == 3
    for automation in [*schedules, *sensors]:
        assert automation.default_status.value == "STOPPED", automation.name
        text = automation.description or ""
        assert "Off by default" in text and "Turn it on" in text, automation.name


def test_the_freshness_sensor_evaluates_the_raw_freshness_check():
    defs = build_definitions("duckdb")
    sensor = defs.resolve_sensor_def("raw_freshness_sensor")
    with dg.instance_for_test() as instance:
        context = dg.build_sensor_context(instance=instance, definitions=defs)
        request = sensor(context)
    # Never evaluated before: Dagster's evaluation asks for the check.
    assert isinstance(request, dg.RunRequest)
    assert [key.name for key in request.asset_check_keys] == ["freshness_check"]


def test_asset_groups_follow_the_layers_and_never_feed_back():
    """The global lineage reads left to right: no group is both upstream and downstream of
    another, and the layers come in their order."""
    import networkx as nx

    graph = build_definitions("duckdb").resolve_asset_graph()
    edges = nx.DiGraph()
    for key in graph.get_all_asset_keys():
        node = graph.get(key)
        edges.add_node(node.group_name)
        for parent in node.parent_keys:
            if graph.get(parent).group_name != node.group_name:
                edges.add_edge(graph.get(parent).group_name, node.group_name)
    assert nx.is_directed_acyclic_graph(edges), list(nx.simple_cycles(edges))
    layers = ["raw", "staging_raw", "intermediate", "marts_features", "ml", "staging_ml"]
    for upstream, downstream in itertools.pairwise(layers):
        assert nx.has_path(edges, upstream, downstream), (upstream, downstream)
    assert "dbt" not in edges  # seeds sit with the raw inputs, not in a group of their own


def test_every_check_says_in_words_what_it_asserts():
    graph = build_definitions("duckdb").resolve_asset_graph()
    specs = {key.name: graph.get_check_spec(key) for key in graph.asset_check_keys}
    bare = sorted(name for name, spec in specs.items() if not spec.description)
    assert not bare, bare
    grain = specs["unique_combination_stg_raw__observations_series_id__ts"].description
    assert grain.startswith("One row per (series_id, ts)"), grain
    share = specs["between_zero_and_one_dim_series_share_filled"].description
    assert "between 0 and 1" in share and "share_filled" in share, share
