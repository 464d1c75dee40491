"""Explanations of a forecast, long format, for the model families that can give one.

`explain(forecaster, history)` returns one row per (series_id, explained_model, component,
horizon_step, kind) with a numeric `value` (EXPLANATION_COLUMNS):

- lightgbm: `feature_importance_gain` (series '__global__', no step: the total gain of the
  splits on each feature, never negative) and `shap_contribution` per series and step: each
  feature's TreeSHAP contribution to the booster's output plus `bias`, the expected output; they
  sum to the output, in the model's learned units (the target relative to the seasonal anchor,
  divided by the series' scale, or its log ratio with log_target; ml/models/direct_rows.py).
- mstl: the point forecast per series and step split into `trend` (the trend forecaster's
  forecast of the deseasonalised series) and one `seasonal` row per season length
  (component `seasonal_<m>`); they add up to the forecast.
- auto_ets: the point forecast split from the fitted model's final states into `level`,
  `trend` and `seasonal` (component names carry the ETS form, e.g. 'seasonal (M)'); a
  multiplicative season's row is its effect in the series' units, so the three add up to the
  forecast. A `remainder` row appears only if the states do not reproduce statsforecast's
  forecast (never seen; it keeps the sum honest).
- tft: pytorch-forecasting's `interpret_output` per series: `variable_importance` (no step;
  component 'static: x', 'encoder: x', 'decoder: x'; each group's weights sum to 1) and
  `attention` of the first step (horizon_step 1) on the encoder periods, component 't-0' (the
  origin), 't-1', ...; they sum to 1.
- ensemble: its members that can be explained, each under its own name.

Other families (seasonal naive, AutoTheta, AutoARIMA, DeepAR, N-HiTS, the tensor-path networks)
give no rows; `unexplained(forecaster)` names them. Series a model hands to its seasonal-naive
fallback get no rows.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from ml.frames import drop_leading_nulls, validate_training_frame

GLOBAL = "__global__"
EXPLANATION_COLUMNS = ["series_id", "explained_model", "component", "horizon_step", "value", "kind"]
# Which families give explanations, and how: each model class's `explainer` (one of the
# functions below, or None), ml/models/base.py.


def empty() -> pd.DataFrame:
    frame = pd.DataFrame({c: pd.Series(dtype="object") for c in EXPLANATION_COLUMNS})
    return frame.astype({"horizon_step": "Int64", "value": "float64"})


def _members(forecaster) -> list:
    return list(forecaster.members) if forecaster.combines_models else [forecaster]


def unexplained(forecaster) -> list[str]:
    """Names of the forecaster's families (an ensemble's members) that give no explanation."""
    return [m.name for m in _members(forecaster) if m.explainer is None]


def explain(forecaster, history: pd.DataFrame) -> pd.DataFrame:
    """Explanation rows of `forecaster`'s forecast from `history` (what predict() is given)."""
    members = _members(forecaster)
    parts = [m.explainer(history) for m in members if m.explainer is not None]
    parts = [p for p in parts if not p.empty]
    if not parts:
        return empty()
    out = pd.concat(parts, ignore_index=True)[EXPLANATION_COLUMNS]
    return out.astype({"horizon_step": "Int64", "value": "float64"})


def combine(parts: list[pd.DataFrame]) -> pd.DataFrame:
    """Explanations of batches of series as one frame: model-wide rows (the same in every
    batch, e.g. LightGBM's gain) kept once."""
    parts = [p for p in parts if not p.empty]
    if not parts:
        return empty()
    rows = pd.concat(parts, ignore_index=True)
    model_wide = rows["series_id"] == GLOBAL
    once = rows[model_wide].drop_duplicates(["explained_model", "kind", "component"])
    return pd.concat([once, rows[~model_wide]], ignore_index=True)


def _long(frame: pd.DataFrame, model: str, kind_of: dict[str, str]) -> pd.DataFrame:
    """(series_id, horizon_step, one column per component) -> explanation rows."""
    long = frame.melt(
        id_vars=["series_id", "horizon_step"],
        value_vars=list(kind_of),
        var_name="component",
        value_name="contribution",  # "value" is also a lightgbm feature's name
    ).rename(columns={"contribution": "value"})
    long["kind"] = long["component"].map(kind_of)
    long["explained_model"] = model
    return long[EXPLANATION_COLUMNS]


# --- LightGBM ---------------------------------------------------------------------------------
def lightgbm_explanations(forecaster, history: pd.DataFrame) -> pd.DataFrame:
    gain = forecaster.booster.feature_importance(importance_type="gain")
    overall = pd.DataFrame(
        {
            "series_id": GLOBAL,
            "explained_model": forecaster.name,
            "component": list(forecaster.feature_names()),
            "horizon_step": pd.NA,
            "value": np.asarray(gain, dtype="float64"),
            "kind": "feature_importance_gain",
        }
    )
    contributions = forecaster.contributions(history)
    kinds = dict.fromkeys([*forecaster.feature_names(), "bias"], "shap_contribution")
    return pd.concat([overall, _long(contributions, forecaster.name, kinds)], ignore_index=True)


# --- statsforecast: the histories their predict() fits on --------------------------------------
def stats_histories(forecaster, history: pd.DataFrame):
    """(series_id, values) the StatsForecaster fits on in predict(), fallback series left out."""
    clean = drop_leading_nulls(validate_training_frame(history, forecaster.spec.freq))
    if forecaster.config.max_history:
        clean = clean.groupby("series_id", sort=False).tail(forecaster.config.max_history)
    minimum = forecaster.min_length(forecaster.spec)
    for sid, part in clean.groupby("series_id", sort=True):
        if len(part) >= minimum:
            yield sid, part.sort_values("ts")["value"].to_numpy(dtype="float64")


def _rows(sid, parts: dict[str, np.ndarray]) -> pd.DataFrame:
    horizon = len(next(iter(parts.values())))
    return pd.DataFrame({"series_id": sid, "horizon_step": np.arange(1, horizon + 1), **parts})


# --- MSTL ---------------------------------------------------------------------------------------
def mstl_decomposition(y: np.ndarray, seasons: list[int]) -> pd.DataFrame:
    """statsforecast's in-sample MSTL decomposition: data = trend + seasonal(s) + remainder."""
    from statsforecast.mstl import mstl

    return mstl(x=np.asarray(y, dtype="float64"), period=seasons)


def mstl_forecast_components(model, horizon: int) -> dict[str, np.ndarray]:
    """Components of a fitted statsforecast MSTL's point forecast (they add up to its mean):
    `trend`, then one per season as statsforecast names it ('seasonal', or 'seasonal12' ...)."""
    from statsforecast.models import _predict_mstl_components

    seasonal = _predict_mstl_components(model.model_, horizon, model.season_length)
    names = model.model_.filter(regex="seasonal*").columns
    parts = {"trend": np.asarray(model.trend_forecaster.predict(h=horizon)["mean"])}
    parts |= {str(name): seasonal[:, i] for i, name in enumerate(names)}
    return parts


def mstl_explanations(forecaster, history: pd.DataFrame) -> pd.DataFrame:
    horizon = forecaster.spec.horizon
    frames = []
    for sid, y in stats_histories(forecaster, history):
        model = forecaster._model(forecaster.spec).fit(y)
        frames.append(_rows(sid, mstl_forecast_components(model, horizon)))
    if not frames:
        return empty()
    wide = pd.concat(frames, ignore_index=True)
    kinds = {c: ("trend" if c == "trend" else "seasonal") for c in wide.columns[2:]}
    return _long(wide, forecaster.name, kinds).dropna(subset=["value"])


# --- ETS ----------------------------------------------------------------------------------------
def ets_forecast_components(model, horizon: int) -> dict[str, np.ndarray]:
    """Level, trend and seasonal parts of a fitted statsforecast ETS's point forecast.

    From its final states (level, slope, then the season's states, newest first) and
    parameters: additive or multiplicative trend (damped by phi) and season, as fitted.
    Component names carry the form: 'trend (A)', 'seasonal (M)'."""
    fit = model.model_
    _error, trend_kind, season_kind, damped = str(fit["components"])  # e.g. 'MAMD'
    states, par, m = np.asarray(fit["states"])[-1], np.asarray(fit["par"]), int(fit["m"])
    phi = par[3] if damped == "D" and np.isfinite(par[3]) else 1.0
    steps = np.arange(1, horizon + 1)
    # How far the slope reaches by step h, as statsforecast's forecast computes it: phi, then
    # phi + phi^1 + ... + phi^(h-1) (h when undamped).
    reach = phi + np.concatenate([[0.0], np.cumsum(phi ** steps[:-1])])
    level = np.full(horizon, states[0])
    trend = np.zeros(horizon)
    if trend_kind == "A":
        trend = states[1] * reach
    elif trend_kind == "M":
        trend = states[0] * (states[1] ** reach - 1)
    parts = {"level": level, f"trend ({trend_kind})": trend}
    if season_kind != "N":
        first = 1 if trend_kind == "N" else 2
        index = states[first : first + m][m - 1 - (steps - 1) % m]  # season states: newest first
        seasonal = (level + trend) * (index - 1) if season_kind == "M" else index
        parts[f"seasonal ({season_kind})"] = seasonal
    mean = np.asarray(model.predict(h=horizon)["mean"])
    remainder = mean - sum(parts.values())
    if not np.allclose(remainder, 0, rtol=0, atol=1e-6 * max(1.0, np.abs(mean).max())):
        parts["remainder"] = remainder
    return parts


def ets_explanations(forecaster, history: pd.DataFrame) -> pd.DataFrame:
    horizon = forecaster.spec.horizon
    frames = []
    for sid, y in stats_histories(forecaster, history):
        model = forecaster._model(forecaster.spec).fit(y)
        parts = ets_forecast_components(model, horizon)
        kinds = {c: c.split(" ")[0] for c in parts}
        frames.append(_long(_rows(sid, parts), forecaster.name, kinds))
    return pd.concat(frames, ignore_index=True) if frames else empty()


# --- TFT ----------------------------------------------------------------------------------------
def tft_interpretation(forecaster, history: pd.DataFrame) -> dict:
    """interpret_output of the forecast predict() makes (fallback series left out):
    {'series_id', 'static'/'encoder'/'decoder': {variable: weights per series}, 'attention':
    (series, max_encoder_length), the origin last}."""
    spec, model = forecaster.spec, forecaster._model
    clean = validate_training_frame(history, spec.freq, forecaster.training.feature_columns)
    clean = drop_leading_nulls(clean)
    lengths = clean.groupby("series_id")["ts"].transform("size")
    extended, _ = forecaster._with_future(
        clean[lengths >= forecaster.architecture.min_encoder_length]
    )
    loader = forecaster._dataset_for(extended).to_dataloader(train=False, batch_size=512)
    from ml.models.tft import _quiet

    quiet = {"accelerator": "cpu", "logger": False, "enable_progress_bar": False}
    with _quiet():  # Lightning's known-harmless warnings, as the TFT's own predict
        raw = model.predict(loader, mode="raw", return_index=True, trainer_kwargs=quiet)
    found = model.interpret_output(raw.output, reduction="none")
    names = {
        "static": model.static_variables,
        "encoder": model.encoder_variables,
        "decoder": model.decoder_variables,
    }
    out = {"series_id": raw.index["series_id"].astype(str).to_numpy()}
    for group, variables in names.items():
        weights = (
            found[f"{group}_variables"].float().cpu().numpy().reshape(len(out["series_id"]), -1)
        )
        out[group] = dict(zip(variables, weights.T, strict=True))
    out["attention"] = found["attention"].float().cpu().numpy()
    return out


def tft_explanations(forecaster, history: pd.DataFrame) -> pd.DataFrame:
    found = tft_interpretation(forecaster, history)
    ids = found["series_id"]
    if not len(ids):
        return empty()
    parts = []
    for group in ("static", "encoder", "decoder"):
        for variable, weights in found[group].items():
            parts.append(
                _tft_rows(ids, f"{group}: {variable}", None, weights, "variable_importance")
            )
    attention = found["attention"]
    width = attention.shape[1]
    for i in range(width):
        component = f"t-{width - 1 - i}"
        parts.append(_tft_rows(ids, component, 1, attention[:, i], "attention"))
    return pd.concat(parts, ignore_index=True)


def _tft_rows(ids, component: str, step, values, kind: str) -> pd.DataFrame:
    return pd.DataFrame(
        {
            "series_id": ids,
            "explained_model": "tft",
            "component": component,
            "horizon_step": pd.array([step] * len(ids), dtype="Int64"),
            "value": np.asarray(values, dtype="float64"),
            "kind": kind,
        }
    )
