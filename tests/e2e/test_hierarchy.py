"""Hierarchies on DuckDB, materialized for real: a file with state and industry columns ->
`load --hierarchy` -> dbt's hierarchy marts -> ml/hierarchical_forecasts -> the leaderboard mart.

Four aus_retail series (2 states x 2 industries, 14 years) and the pipeline's own base model
(auto_theta); the reconciled p50s must add up the tree in the warehouse table.
"""

from __future__ import annotations

import dagster as dg
import numpy as np
import pandas as pd
import pytest

from ml.datasets import aus_retail_attributes, load_aus_retail

STATES = ["Victoria", "Tasmania"]
INDUSTRIES = ["Clothing retailing", "Supermarket and grocery stores"]
HIERARCHY_KEY = dg.AssetKey(["ml", "hierarchical_forecasts"])
LEADERBOARD_KEY = dg.AssetKey(["marts", "fct_hierarchy_leaderboard"])
HORIZON = 24

pytestmark = [pytest.mark.e2e, pytest.mark.timeout(600)]


@pytest.fixture(scope="module")
def tree_file(tmp_path_factory) -> str:
    attributes = aus_retail_attributes()
    picked = attributes[attributes["state"].isin(STATES) & attributes["industry"].isin(INDUSTRIES)]
    assert len(picked) == 4
    frame = load_aus_retail().merge(picked, on="series_id")
    frame = frame[frame["ts"] >= "2005-01-01"]
    path = tmp_path_factory.mktemp("hierarchy") / "retail.parquet"
    frame.rename(columns={"state": "State", "industry": "Industry"}).to_parquet(path, index=False)
    return str(path)


def _raw_config(path: str, hierarchy=("State", "Industry")) -> dict:
    return {"config": {"dataset": "file", "path": path, "hierarchy": list(hierarchy)}}


def _run(defs, selection, run_config) -> dg.ExecuteInProcessResult:
    job = defs.resolve_job_def("forecast_pipeline")
    return job.execute_in_process(
        run_config=run_config,
        instance=dg.DagsterInstance.ephemeral(),
        asset_selection=selection,
        raise_on_error=False,
    )


def _read(defs, schema: str, table: str) -> pd.DataFrame:
    return defs.resources["warehouse"].client().read_table(schema, table).to_pandas()


def test_hierarchy_is_forecast_reconciled_and_adds_up(warecast_home, tree_file):
    from orchestration.definitions import build_definitions

    defs = build_definitions("duckdb")
    graph = defs.resolve_asset_graph()
    # The leaderboard and the staging view it reads (stg_ml__hierarchical_backtest).
    wanted = dg.AssetSelection.keys(HIERARCHY_KEY).upstream() | dg.AssetSelection.keys(
        LEADERBOARD_KEY
    ).upstream(depth=1)
    backtests = dg.AssetSelection.keys(dg.AssetKey(["ml", "backtests"])).upstream(depth=0)
    keys = list((wanted - backtests).resolve(graph))
    result = _run(defs, keys, {"ops": {"raw__observations": _raw_config(tree_file)}})
    assert result.success

    attributes = _read(defs, "raw", "series_attributes")
    assert sorted(attributes.columns) == ["industry", "series_id", "state"]
    assert set(attributes["state"]) == set(STATES)

    # dbt's sums: every aggregate is its series' sum in every period.
    series = _read(defs, "marts", "fct_hierarchy_series")
    wide = series.pivot(index="ts", columns="series_id", values="value")
    dim = _read(defs, "marts", "dim_hierarchy")
    assert sorted(dim["level"].value_counts().items()) == [
        ("series", 4),
        ("state", 2),
        ("total", 1),
    ]
    bottoms = dim.loc[dim["level"] == "series", "series_id"]
    np.testing.assert_allclose(wide["total"], wide[bottoms].sum(axis=1), rtol=1e-12)

    forecasts = _read(defs, "ml", "hierarchical_forecasts")
    assert len(forecasts) == 7 * 3 * HORIZON
    assert set(forecasts["method"]) == {"base", "bottom_up", "mint_shrink"}
    assert set(forecasts.loc[forecasts["is_served"], "method"]) == {"bottom_up"}
    assert ((forecasts["p10"] <= forecasts["p50"]) & (forecasts["p50"] <= forecasts["p90"])).all()
    assert set(forecasts["dagster_run_id"]) == {result.run_id}
    children = dim.dropna(subset=["parent_id"]).set_index("series_id")["parent_id"]
    for method in ("bottom_up", "mint_shrink"):
        rows = forecasts[forecasts["method"] == method]
        p50 = rows.pivot(index="target_ts", columns="series_id", values="p50")
        for parent in ["total", *dim.loc[dim["level"] == "state", "series_id"]]:
            kids = children[children == parent].index
            np.testing.assert_allclose(p50[parent], p50[kids].sum(axis=1), rtol=1e-9)
    base = forecasts[forecasts["method"] == "base"].pivot(
        index="target_ts", columns="series_id", values="p50"
    )
    assert not np.allclose(base["total"], base[bottoms].sum(axis=1), rtol=1e-9)

    board = _read(defs, "marts", "fct_hierarchy_leaderboard")
    assert len(board) == 3 * 3
    assert set(board["level"]) == {"total", "state", "series"}
    assert np.isfinite(board["mase"]).all()
    assert (board.loc[board["method"] == "base", "mase_vs_base"] == 1.0).all()


def test_a_series_in_two_states_is_refused_and_nothing_is_replaced(
    warecast_home, tree_file, tmp_path
):
    from orchestration.definitions import build_definitions

    defs = build_definitions("duckdb")
    raw_key = dg.AssetKey(["raw", "observations"])
    assert _run(defs, [raw_key], {"ops": {"raw__observations": _raw_config(tree_file)}}).success
    before = _read(defs, "raw", "observations")

    frame = pd.read_parquet(tree_file)
    first = frame["series_id"].iloc[0]
    frame.loc[frame.index[:3], "State"] = "Queensland"  # the same series, now in two states
    bad = tmp_path / "bad.parquet"
    frame.to_parquet(bad, index=False)
    result = _run(defs, [raw_key], {"ops": {"raw__observations": _raw_config(str(bad))}})
    assert not result.success
    message = str(result.all_events[-1].event_specific_data) + "".join(
        str(e.event_specific_data) for e in result.all_events if e.is_failure
    )
    assert first in message and "'state'" in message
    assert len(_read(defs, "raw", "observations")) == len(before)
