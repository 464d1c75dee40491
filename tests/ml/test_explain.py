"""Explanations add up to what the models forecast; plots render (ml/explain.py, ml/plots.py)."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from ml.config import ForecastSpec
from ml.explain import (
    EXPLANATION_COLUMNS,
    GLOBAL,
    explain,
    mstl_decomposition,
    unexplained,
)
from ml.models import create_forecaster
from ml.models.direct_rows import DirectRows
from ml.plots import explanation_chart, fan_chart, png_bytes
from tests.ml import helpers

SPEC = ForecastSpec(horizon=6, freq="MS", season_length=12)
PNG = b"\x89PNG\r\n\x1a\n"


@pytest.fixture(scope="module")
def features() -> pd.DataFrame:
    return helpers.features(helpers.retail(4, 96))


@pytest.fixture(scope="module")
def lightgbm(features):
    model = create_forecaster("lightgbm", "tiny")
    model.fit(features, SPEC, validate=False)
    return model


def _sum_by_row(rows: pd.DataFrame) -> pd.Series:
    return rows.groupby(["series_id", "horizon_step"])["value"].sum()


def test_lightgbm_contributions_sum_to_the_forecast(lightgbm, features):
    rows = explain(lightgbm, features)
    assert list(rows.columns) == EXPLANATION_COLUMNS
    shap = rows[rows["kind"] == "shap_contribution"]
    output = _sum_by_row(shap)  # features + bias = the booster's output per row
    wide = lightgbm.contributions(features).set_index(["series_id", "horizon_step"])
    learned = output.loc[wide.index].to_numpy()
    to_value = DirectRows(SPEC, log_scale=lightgbm.log_target).value
    p50 = to_value(learned, wide["base"].to_numpy(), wide["scale"].to_numpy())
    forecast = lightgbm.predict(features).set_index(["series_id", "horizon_step"])["p50"]
    np.testing.assert_allclose(p50, forecast.loc[wide.index].to_numpy(), rtol=1e-6)
    assert shap["series_id"].nunique() == features["series_id"].nunique()
    # Not all zero: the features do drive the forecast.
    assert shap.loc[shap["component"] != "bias", "value"].abs().sum() > 0


def test_lightgbm_gain_importances_are_global_and_non_negative(lightgbm, features):
    gain = explain(lightgbm, features).query("kind == 'feature_importance_gain'")
    assert set(gain["series_id"]) == {GLOBAL}
    assert gain["horizon_step"].isna().all()
    assert (gain["value"] >= 0).all() and gain["value"].sum() > 0
    assert "anchor" in set(gain["component"])


@pytest.mark.parametrize("name", ["mstl", "auto_ets"])
def test_statistical_components_add_up_to_the_forecast(name, features):
    model = create_forecaster(name, "tiny")
    model.fit(features, SPEC, validate=False)
    rows = explain(model, features)
    assert set(rows["kind"]) <= {"level", "trend", "seasonal"}, "no remainder row expected"
    assert {"trend", "seasonal"} <= set(rows["kind"])
    forecast = model.predict(features).set_index(["series_id", "horizon_step"])["p50"]
    total = _sum_by_row(rows)
    np.testing.assert_allclose(total.to_numpy(), forecast.loc[total.index].to_numpy(), rtol=1e-9)
    assert len(total) == len(forecast)


def test_mstl_decomposition_adds_up_to_the_data(features):
    y = features[features["series_id"] == features["series_id"].iloc[0]]["value"].to_numpy()
    parts = mstl_decomposition(y, [12])
    np.testing.assert_allclose(parts[["trend", "seasonal", "remainder"]].sum(axis=1), y)
    # A real decomposition: the seasonal part is not empty.
    assert parts["seasonal"].abs().max() > 0


def test_ensemble_explains_its_members_and_names_the_rest(features):
    model = create_forecaster("ensemble", "tiny")
    model.fit(features, SPEC, validate=False)
    members = [m.name for m in model.members]
    rows = explain(model, features)
    explained = {"lightgbm", "mstl", "auto_ets", "tft"} & set(members)
    assert set(rows["explained_model"]) == explained
    assert set(unexplained(model)) == set(members) - explained


def test_a_model_without_explanations_gives_an_empty_frame(features):
    model = create_forecaster("seasonal_naive", "tiny")
    model.fit(features, SPEC, validate=False)
    rows = explain(model, features)
    assert rows.empty and list(rows.columns) == EXPLANATION_COLUMNS
    assert unexplained(model) == ["seasonal_naive"]


def test_plots_render_to_png(lightgbm, features):
    forecast = lightgbm.predict(features)
    chart = png_bytes(fan_chart(features, forecast, n_series=3, title="fan"))
    bars = png_bytes(explanation_chart(explain(lightgbm, features)))
    assert chart.startswith(PNG) and bars.startswith(PNG)
    assert len(chart) > 5_000
    with pytest.raises(ValueError, match="empty"):
        fan_chart(features, forecast.iloc[:0])


def test_fan_chart_panels_say_which_series_and_the_next_period(lightgbm, features):
    forecast = lightgbm.predict(features)
    sid = sorted(forecast["series_id"].unique())[0]
    labels = {sid: f"{sid}: Victoria, Food"}
    fig = fan_chart(features, forecast, n_series=2, labels=labels, units="A$ million")
    first = forecast[forecast["series_id"] == sid].sort_values("horizon_step").iloc[0]
    ax = fig.axes[0]
    assert ax.get_title() == f"{sid}: Victoria, Food"
    assert ax.get_ylabel() == "A$ million"
    legend = [text.get_text() for text in ax.get_legend().get_texts()]
    when = pd.Timestamp(first["target_ts"]).date()
    assert any(t.startswith(f"p50 {when}: ") for t in legend), legend
    assert any(t.startswith("p10-p90: ") for t in legend), legend
    other = sorted(forecast["series_id"].unique())[1]
    assert fig.axes[1].get_title() == other  # a series without a label: its id
    png_bytes(fig)


def test_tft_variable_importances_and_attention_are_weights(features):
    model = create_forecaster("tft", "tiny", progress_bar=False)
    model.fit(features, SPEC, validate=False)
    rows = explain(model, features)
    importance = rows[rows["kind"] == "variable_importance"]
    attention = rows[rows["kind"] == "attention"]
    assert set(rows["series_id"]) == set(features["series_id"])
    assert importance["horizon_step"].isna().all() and (attention["horizon_step"] == 1).all()
    assert "encoder: value" in set(importance["component"])
    # Each variable-selection group and the attention are weights over their parts: sum 1.
    group = importance["component"].str.split(":").str[0]
    sums = importance.groupby([importance["series_id"], group])["value"].sum()
    np.testing.assert_allclose(sums, 1.0, rtol=1e-4)
    np.testing.assert_allclose(attention.groupby("series_id")["value"].sum(), 1.0, rtol=1e-4)
    assert attention["component"].nunique() == 24  # max_encoder_length of the tiny preset
    assert (attention["value"] >= 0).all()
    assert png_bytes(explanation_chart(rows)).startswith(PNG)
