"""ml/backtests materialized for real (DuckDB and PostgreSQL), then the evaluation marts on top.

3 aus_retail series, 2 cutoffs, 24 months ahead: the tables, the marts, the MLflow run and the
champion read back must all agree with numbers recomputed here from the written points.
"""

from __future__ import annotations

import json

import dagster as dg
import mlflow
import numpy as np
import pandas as pd
import pytest
from mlflow import MlflowClient

from ml.datasets import load_aus_retail

N_SERIES, HORIZON, CUTOFFS = 3, 24, 2
BACKTESTS = dg.AssetKey(["ml", "backtests"])
LEADERBOARD = dg.AssetKey(["marts", "fct_model_leaderboard"])
SERIES_ACCURACY = dg.AssetKey(["marts", "fct_backtest_series_accuracy"])

pytestmark = [pytest.mark.e2e, pytest.mark.timeout(600)]


@pytest.fixture(scope="module")
def subset() -> pd.DataFrame:
    frame = load_aus_retail()
    keep = sorted(frame["series_id"].unique())[-N_SERIES:]
    return frame[frame["series_id"].isin(keep)].reset_index(drop=True)


def _run(defs, ops: dict, keys) -> dg.ExecuteInProcessResult:
    job = defs.resolve_job_def("forecast_pipeline")
    return job.execute_in_process(
        run_config={"ops": ops},
        instance=dg.DagsterInstance.ephemeral(),
        asset_selection=list(keys),
        raise_on_error=False,
    )


def _query(defs, schema: str, table: str) -> pd.DataFrame:
    return defs.resources["warehouse"].client().read_table(schema, table).to_pandas()


def _backtest_ops(models: list[str]) -> dict:
    return {"ml__backtests": {"config": {"models": models, "cutoffs": CUTOFFS, "step": 12}}}


@pytest.mark.parametrize(
    ("target", "models"),
    [
        ("duckdb", ["seasonal_naive:tiny", "auto_ets:tiny", "tft:tiny"]),
        pytest.param(
            "postgres", ["seasonal_naive:tiny", "auto_ets:tiny"], marks=pytest.mark.postgres
        ),
    ],
)
def test_backtest_tables_marts_and_champion(
    target, models, request, warecast_home, tmp_path, subset
):
    if target == "postgres":
        request.getfixturevalue("pg_database")
    from orchestration.definitions import build_definitions
    from orchestration.selection import read_champion_choice

    defs = build_definitions(target)
    path = tmp_path / "raw.parquet"
    subset.to_parquet(path, index=False)
    graph = defs.resolve_asset_graph()
    keys = dg.AssetSelection.keys(LEADERBOARD, SERIES_ACCURACY).upstream().resolve(graph)
    assert BACKTESTS in keys
    ops = {"raw__observations": {"config": {"dataset": "file", "path": str(path)}}}
    result = _run(defs, {**ops, **_backtest_ops(models)}, keys)
    assert result.success

    points, summary = _query(defs, "ml", "backtest_points"), _query(defs, "ml", "backtest_summary")
    names = [m.split(":")[0] for m in models]
    _assert_points(points, subset, names)
    champion = _assert_summary(summary, names)
    _assert_marts(defs, points, summary)

    choice = read_champion_choice(defs.resources["warehouse"])
    assert (choice.model, choice.preset, choice.metric) == (champion["model"], "tiny", "mase")
    assert choice.value == pytest.approx(champion["mase"])
    assert choice.backtest_run_id == champion["backtest_run_id"]
    _assert_tracked(champion, names)

    # Again: the pipeline's points are replaced, the summary keeps both runs, the marts show
    # the newest; a model that does not exist fails before anything is written.
    rerun = [BACKTESTS, LEADERBOARD, SERIES_ACCURACY]
    assert _run(defs, _backtest_ops(models), rerun).success
    assert len(_query(defs, "ml", "backtest_points")) == len(points)
    summary = _query(defs, "ml", "backtest_summary")
    assert summary["backtest_run_id"].nunique() == 2
    newest = summary.loc[summary["created_at"].idxmax(), "backtest_run_id"]
    board = _query(defs, "marts", "fct_model_leaderboard")
    assert set(board["backtest_run_id"]) == {newest} and len(board) == len(names)
    assert not _run(defs, _backtest_ops(["no_such_model"]), [BACKTESTS]).success
    assert len(_query(defs, "ml", "backtest_summary")) == len(summary)


def _assert_points(points: pd.DataFrame, subset: pd.DataFrame, names: list[str]) -> None:
    assert len(points) == len(names) * CUTOFFS * N_SERIES * HORIZON
    assert set(points["model"]) == set(names)
    cutoffs = points.groupby("model")["cutoff"].apply(lambda c: tuple(sorted(set(c))))
    assert cutoffs.nunique() == 1  # every model on the same cutoffs
    last = subset["ts"].max()
    expected = {last - pd.DateOffset(months=HORIZON + 12), last - pd.DateOffset(months=HORIZON)}
    assert set(points["cutoff"]) == expected
    actual = subset.rename(columns={"ts": "target_ts", "value": "observed"})
    merged = points.merge(actual, on=["series_id", "target_ts"])
    assert len(merged) == len(points)
    assert np.allclose(merged["actual"], merged["observed"])
    assert (points["p10"] <= points["p50"]).all() and (points["p50"] <= points["p90"]).all()
    assert points[["backtest_run_id", "mlflow_run_id", "dagster_run_id"]].notna().all().all()


def _assert_summary(summary: pd.DataFrame, names: list[str]) -> pd.Series:
    assert sorted(summary["model"]) == sorted(names)
    assert summary["is_champion"].sum() == 1
    champion = summary[summary["is_champion"]].iloc[0]
    assert champion["mase"] == summary["mase"].min() and champion["rank"] == 1
    assert champion["reason"].startswith(f"{champion['model']} won on mase")
    assert summary["n_points"].eq(CUTOFFS * N_SERIES * HORIZON).all()
    # Statistical models are bounded by backtest.max_history_statistical (aus_retail: 120).
    overrides = summary.set_index("model")["overrides"].map(json.loads)
    assert overrides["auto_ets"] == {"max_history": 120}
    assert overrides.get("tft", {}) == {}
    return champion


def _assert_marts(defs, points: pd.DataFrame, summary: pd.DataFrame) -> None:
    board = _query(defs, "marts", "fct_model_leaderboard").set_index("model")
    by_model = summary.set_index("model")
    assert set(board.index) == set(by_model.index)
    assert np.allclose(board["mase"], by_model.loc[board.index, "mase"])
    assert board.loc["seasonal_naive", "mase_vs_seasonal_naive"] == pytest.approx(1.0)
    assert board["is_champion"].sum() == 1

    accuracy = _query(defs, "marts", "fct_backtest_series_accuracy")
    assert len(accuracy) == len(by_model) * N_SERIES
    errors = points.assign(
        abs_error=(points["actual"] - points["p50"]).abs(),
        scaled=(points["actual"] - points["p50"]).abs() / points["scale"],
    )
    expected = errors.groupby(["model", "series_id"])[["abs_error", "scaled"]].mean()
    got = accuracy.set_index(["model", "series_id"]).loc[expected.index]
    assert np.allclose(got["mae"], expected["abs_error"])
    assert np.allclose(got["mase"], expected["scaled"])
    # Pooled over series, the mart reproduces the leaderboard's MASE (equal points per series).
    pooled = got.groupby(level="model")["mase"].mean()
    assert np.allclose(pooled, by_model.loc[pooled.index, "mase"])


def _assert_tracked(champion: pd.Series, names: list[str]) -> None:
    from orchestration.settings import mlflow_tracking_uri

    mlflow.set_tracking_uri(mlflow_tracking_uri())
    client = MlflowClient()
    run = client.get_run(champion["mlflow_run_id"])
    assert run.data.tags["champion"] == champion["model"]
    assert run.data.tags["champion_reason"] == champion["reason"]
    assert [m.split(":")[0] for m in run.data.params["models"].split(",")] == names
    assert run.info.run_name.startswith("backtest ") and "mlflow.note.content" in run.data.tags
    artifacts = {a.path for a in client.list_artifacts(run.info.run_id)}
    assert {"leaderboard.json", "champion_reason.txt"} <= artifacts
    # One child run per model, its scores as metrics, so MLflow's compare views rank them.
    children = client.search_runs(
        [run.info.experiment_id], f"tags.mlflow.parentRunId = '{run.info.run_id}'"
    )
    by_family = {child.data.params["family"]: child for child in children}
    assert sorted(by_family) == sorted(names)
    for name, child in by_family.items():
        assert {"mase", "smape", "coverage_80", "pinball_mean", "fit_seconds"} <= set(
            child.data.metrics
        ), name
        assert child.info.run_name == f"{name}:{child.data.params['preset']}"
        assert (child.data.params["champion"] == "True") == (name == champion["model"])
    winner = min(by_family.values(), key=lambda child: child.data.metrics["mase"])
    assert winner.data.params["family"] == champion["model"]  # the suite selects on mase
    experiment = client.get_experiment(run.info.experiment_id)
    assert experiment.tags["mlflow.experimentKind"] == "custom_model_development"
