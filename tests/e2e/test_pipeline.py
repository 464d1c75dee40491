"""The whole graph, materialized for real on DuckDB and on a real PostgreSQL server.

raw (8 aus_retail series, last 24 months held back) -> dbt -> tiny TFT -> forecasts -> marts;
then the held-back months "arrive" and the forecast-vs-actual mart fills in.
"""

from __future__ import annotations

import dagster as dg
import pandas as pd
import pytest

from ml.datasets import load_aus_retail
from tests.run_configs import (
    COMPARED_BACKTEST,
    COMPARED_FAMILIES,
    ENSEMBLE_BACKTEST,
    TINY_TRAINING,
)

N_SERIES, HORIZON = 8, 24

pytestmark = [pytest.mark.e2e, pytest.mark.timeout(900)]


@pytest.fixture(scope="module")
def demo_subset() -> pd.DataFrame:
    frame = load_aus_retail()
    keep = sorted(frame["series_id"].unique())[:N_SERIES]
    return frame[frame["series_id"].isin(keep)].reset_index(drop=True)


def _write_parquet(frame: pd.DataFrame, path) -> str:
    frame.to_parquet(path, index=False)
    return str(path)


def _run(defs: dg.Definitions, run_config: dict, selection=None) -> dg.ExecuteInProcessResult:
    job = defs.resolve_job_def("forecast_pipeline")
    return job.execute_in_process(
        run_config=run_config, instance=dg.DagsterInstance.ephemeral(), asset_selection=selection
    )


def _raw_config(path: str) -> dict:
    return {"dataset": "file", "path": path}


def _query(defs: dg.Definitions, schema: str, table: str) -> pd.DataFrame:
    return defs.resources["warehouse"].client().read_table(schema, table).to_pandas()


# snowflake runs on a local fakesnow server (tests/fakesnow_server.py): dbt-snowflake and the
# Snowflake client, with the env-gated shims in dbt_project/macros/fakesnow_shim.sql and
# orchestration/warehouse/snowflake.py.
TARGET_DATABASES = {"postgres": "pg_database", "snowflake": "fakesnow_database"}


@pytest.mark.parametrize(
    "target", ["duckdb", pytest.param("postgres", marks=pytest.mark.postgres), "snowflake"]
)
def test_whole_graph(target, request, warecast_home, tmp_path, demo_subset):
    if target in TARGET_DATABASES:
        request.getfixturevalue(TARGET_DATABASES[target])
    from orchestration.definitions import build_definitions

    defs = build_definitions(target)
    cutoff = demo_subset["ts"].max() - pd.DateOffset(months=HORIZON)
    history = _write_parquet(demo_subset[demo_subset["ts"] <= cutoff], tmp_path / "history.parquet")

    result = _run(
        defs,
        {
            "ops": {
                "raw__observations": {"config": _raw_config(history)},
                "ml__backtests": COMPARED_BACKTEST,
                "ml__trained_model": TINY_TRAINING,
            }
        },
    )
    assert result.success

    forecasts = _query(defs, "ml", "forecasts")
    assert len(forecasts) == N_SERIES * HORIZON
    assert forecasts["series_id"].nunique() == N_SERIES
    assert (forecasts["p10"] <= forecasts["p50"]).all()
    assert (forecasts["p50"] <= forecasts["p90"]).all()
    assert sorted(forecasts["horizon_step"].unique()) == list(range(1, HORIZON + 1))
    assert (forecasts["forecast_origin"] == pd.Timestamp(cutoff)).all()
    lineage = ["model_name", "model_version", "mlflow_run_id", "created_at", "dagster_run_id"]
    assert forecasts[lineage].notna().all().all()
    assert set(forecasts["dagster_run_id"]) == {result.run_id}
    trained = result.asset_materializations_for_node("ml__trained_model")[0].metadata
    # The family serving the forecasts is the one the backtest ranked first.
    summary = _query(defs, "ml", "backtest_summary")
    champion = summary.loc[summary["is_champion"].astype(bool), "model"]
    assert list(champion) == [trained["model_family"].value]
    assert set(summary["model"]) == set(COMPARED_FAMILIES)
    assert set(forecasts["method"]) <= {trained["model_family"].value, "seasonal_naive_fallback"}
    assert set(forecasts["model_version"]) == {trained["model_version"].value}
    assert set(forecasts["mlflow_run_id"]) == {trained["mlflow_run_id"].value}

    _assert_tracked(trained["mlflow_run_id"].value, trained["model_version"].value, result.run_id)

    latest = _query(defs, "marts", "fct_forecasts_latest")
    assert len(latest) == N_SERIES * HORIZON
    assert _query(defs, "marts", "fct_forecast_vs_actual").empty  # no actuals yet

    # Re-running the forecast step rewrites the same partitions: no duplicates.
    forecast_key = dg.AssetKey(["ml", "forecasts"])
    assert _run(defs, {}, selection=[forecast_key]).success
    assert len(_query(defs, "ml", "forecasts")) == N_SERIES * HORIZON

    # The held-back months arrive; features and marts are rebuilt, the model is not retrained.
    full = _write_parquet(demo_subset, tmp_path / "full.parquet")
    dbt_and_raw = dg.AssetSelection.all() - dg.AssetSelection.keys(
        dg.AssetKey(["ml", "backtests"]), dg.AssetKey(["ml", "trained_model"]), forecast_key
    )
    keys = list(dbt_and_raw.resolve(defs.resolve_asset_graph()))
    assert _run(defs, {"ops": {"raw__observations": {"config": _raw_config(full)}}}, keys).success
    versus = _query(defs, "marts", "fct_forecast_vs_actual")
    assert len(versus) == N_SERIES * HORIZON
    actual = demo_subset.rename(columns={"ts": "target_ts", "value": "expected"})
    merged = versus.merge(actual, on=["series_id", "target_ts"])
    assert len(merged) == len(versus)
    assert (merged["actual"] - merged["expected"]).abs().max() < 1e-9
    assert ((merged["actual"] - merged["p50"]) - merged["error"]).abs().max() < 1e-9


# DuckDB only: the ensemble is warehouse-agnostic ml/ code, and test_whole_graph and
# test_lineage_and_day_n already run its I/O path on PostgreSQL (this saved ~75 s of CI).
@pytest.mark.parametrize("target", ["duckdb"])
def test_ensemble_champion_serves_and_names_its_members(
    target, request, warecast_home, tmp_path, demo_subset
):
    if target in TARGET_DATABASES:
        request.getfixturevalue(TARGET_DATABASES[target])
    from orchestration.definitions import build_definitions

    defs = build_definitions(target)
    path = _write_parquet(demo_subset, tmp_path / "raw.parquet")
    ops = {
        "raw__observations": {"config": _raw_config(path)},
        "ml__backtests": ENSEMBLE_BACKTEST,
        "ml__trained_model": TINY_TRAINING,
    }
    result = _run(defs, {"ops": ops})
    assert result.success

    members = "median of seasonal_naive:tiny, auto_theta:tiny, lightgbm:tiny"
    trained = result.asset_materializations_for_node("ml__trained_model")[0].metadata
    assert (trained["model_family"].value, trained["model_detail"].value) == ("ensemble", members)
    forecasts = _query(defs, "ml", "forecasts")
    assert len(forecasts) == N_SERIES * HORIZON
    assert set(forecasts["method"]) == {"ensemble"}
    assert (forecasts["p10"] <= forecasts["p50"]).all()
    assert (forecasts["p50"] <= forecasts["p90"]).all()
    # A forecast row's version names the members that made it.
    versions = _query(defs, "marts", "dim_model_versions")
    champion = versions[versions["is_champion"].astype(bool)]
    assert list(champion["model_version"]) == [trained["model_version"].value]
    assert members in champion["champion_reason"].iloc[0]
    history = _query(defs, "ml", "model_version_history")
    assert f"trained {members}" in set(history["reason"])


def _assert_tracked(run_id: str, version: str, dagster_run_id: str) -> None:
    """The MLflow run has params, metrics, the plot, and is the registered @champion version."""
    import mlflow
    from mlflow import MlflowClient

    from orchestration.settings import mlflow_tracking_uri

    mlflow.set_tracking_uri(mlflow_tracking_uri())
    client = MlflowClient()
    run = client.get_run(run_id)
    assert run.data.params["preset"] == "tiny"
    assert {"val_mase", "val_coverage_80", "baseline_val_mase"} <= set(run.data.metrics)
    assert run.data.tags["dagster_run_id"] == dagster_run_id
    artifacts = {a.path for a in client.list_artifacts(run_id)}
    assert "forecast_vs_actual.png" in artifacts
    champion = client.get_model_version_by_alias("warecast_forecaster", "champion")
    assert str(champion.version) == version and champion.run_id == run_id
    # Readable in MLflow's UI: the run's name and description, the model's and the version's
    # descriptions, a signature (the feature mart's columns in, the forecast frame out).
    assert run.info.run_name == f"train {run.data.tags['model_family']} v{version}"
    assert "Backtest: mase" in run.data.tags["mlflow.note.content"]
    assert champion.description == run.data.tags["mlflow.note.content"]
    assert "@champion" in client.get_registered_model("warecast_forecaster").description
    info = mlflow.models.get_model_info(f"models:/warecast_forecaster/{version}")
    assert {"series_id", "ts", "value"} <= set(info.signature.inputs.input_names())
    assert info.signature.outputs.input_names()[-4:] == ["p10", "p50", "p90", "method"]
