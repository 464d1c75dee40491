"""ml/forecast_explanations for real: a champion registered in MLflow (SQLite store), the feature
table in a DuckDB file, the asset materialized by Dagster; plus the plot metadata helpers.

(The whole graph, with the dbt mart over the table and its tests, runs in tests/e2e.)
"""

from __future__ import annotations

import base64

import dagster as dg
import pandas as pd
import pyarrow as pa
import pytest

from benchmarks.pandas_features import add_features
from ml.config import ForecastSpec
from ml.datasets import load_aus_retail
from ml.models import create_forecaster

SPEC = ForecastSpec(horizon=24, freq="MS", season_length=12)
PNG = b"\x89PNG\r\n\x1a\n"


@pytest.fixture
def champion(warecast_home):
    """(defs, features, registered): 3 series' features in DuckDB, a tiny LightGBM champion."""
    from mlflow import MlflowClient

    from orchestration.dbt_models import relation_of
    from orchestration.definitions import build_definitions
    from orchestration.settings import load_pipeline

    frame = load_aus_retail()
    keep = sorted(frame["series_id"].unique())[:3]
    frame = frame[frame["series_id"].isin(keep)].groupby("series_id").tail(96)
    features = add_features(frame[["series_id", "ts", "value"]], 3, SPEC.season_length)
    defs = build_definitions("duckdb")
    client = defs.resources["warehouse"].client()
    client.replace_table(
        *relation_of("fct_training_features"), pa.Table.from_pandas(features, preserve_index=False)
    )
    model = create_forecaster("lightgbm", "tiny")
    report = model.fit(features, SPEC)
    tracking = defs.resources["mlflow_tracking"]
    name = load_pipeline().model_name
    registered = tracking.log_training(
        forecaster=model,
        model_name=name,
        params={},
        metrics={},
        tags={},
        figure=_figure(),
        validation_forecasts=report.validation_forecasts,
        history=features,
        description="a tiny LightGBM on three series",
    )
    MlflowClient().set_registered_model_alias(name, "champion", registered.version)
    return defs, features, registered


def _figure():
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots()
    ax.plot([0, 1])
    return fig


def test_the_asset_writes_explanations_and_logs_their_plot(champion, monkeypatch):
    from mlflow import MlflowClient

    from orchestration.assets.explanations import forecast_explanations

    defs, features, registered = champion
    monkeypatch.setenv("WARECAST_BATCH_ROWS", "100")  # one series a batch: 3 batches
    resources = {k: defs.resources[k] for k in ("warehouse", "mlflow_tracking")}
    for _ in range(2):  # a re-run replaces the version's rows, never duplicates them
        result = dg.materialize([forecast_explanations], resources=resources)
        assert result.success
    rows = defs.resources["warehouse"].client().read_table("ml", "forecast_explanations")
    rows = rows.to_pandas()
    shap = rows[rows["kind"] == "shap_contribution"]
    n_features = rows.loc[rows["kind"] == "feature_importance_gain", "component"].nunique()
    assert len(shap) == 3 * SPEC.horizon * (n_features + 1)  # + bias, once per run
    gain = rows[rows["kind"] == "feature_importance_gain"]
    assert len(gain) == n_features  # model-wide rows once, not once per batch
    assert set(rows["model_version"]) == {registered.version}
    assert set(rows["mlflow_run_id"]) == {registered.run_id}
    origins = shap.groupby("series_id")["forecast_origin"].first()
    assert (origins == features.groupby("series_id")["ts"].max()).all()
    assert rows.loc[rows["series_id"] == "__global__", "forecast_origin"].isna().all()

    event = result.asset_materializations_for_node("ml__forecast_explanations")[0]
    markdown = event.metadata["explanation_chart_embedded"].value
    assert base64.b64decode(markdown.split("base64,")[1].rstrip(")")).startswith(PNG)
    # Shown inline by the Dagster UI (under 1,000 characters), served by the MLflow UI.
    inline = event.metadata["explanation_chart"].value
    assert len(inline) < 1000 and f"run_uuid={registered.run_id}" in inline, inline
    artefacts = [a.path for a in MlflowClient().list_artifacts(registered.run_id, "plots")]
    assert artefacts == ["plots/forecast_explanations.png"]


def test_leaderboard_table_keeps_types_and_blanks_nan():
    from orchestration.plots_metadata import leaderboard_table

    board = pd.DataFrame(
        {"rank": [1, 2], "model": ["a", "b"], "mase": [0.9, float("nan")], "other": [1, 2]}
    )
    table = leaderboard_table(board)
    assert [c.name for c in table.schema.columns] == ["rank", "model", "mase"]
    assert [c.type for c in table.schema.columns] == ["int", "string", "float"]
    assert [r.data for r in table.records] == [
        {"rank": 1, "model": "a", "mase": 0.9},
        {"rank": 2, "model": "b", "mase": None},
    ]
    # With seasonal naive on the board, each model's MASE relative to it (the CLI's column).
    board.loc[1, ["model", "mase"]] = ["seasonal_naive", 1.2]
    ratios = [r.data["mase_vs_seasonal_naive"] for r in leaderboard_table(board).records]
    assert ratios == [0.75, 1.0]


def test_a_plot_that_fails_never_fails_the_asset():
    from orchestration.plots_metadata import explanation_plot_metadata

    empty = pd.DataFrame(columns=["explained_model", "component", "kind", "value"])
    metadata = explanation_plot_metadata(empty, tracking=None, run_id="none")
    assert list(metadata) == ["explanation_chart (not rendered)"]
    assert "empty" in metadata["explanation_chart (not rendered)"].value


def test_the_registered_model_states_its_requirements_and_loads(champion):
    """The pip requirements are the pinned list (MLflow infers none), and the version loads."""
    import mlflow

    from orchestration.tracking import model_requirements

    _, features, registered = champion
    uri = f"models:/{registered.name}/{registered.version}"
    path = mlflow.artifacts.download_artifacts(f"{uri}/requirements.txt")
    with open(path) as handle:
        stated = [line.strip() for line in handle if line.strip()]
    assert stated == model_requirements()
    assert any(line.startswith(("torch==", "lightgbm==")) for line in stated)
    forecast = mlflow.pyfunc.load_model(uri).predict(features)
    assert forecast["series_id"].nunique() == 3
