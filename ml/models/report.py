"""Helpers every forecaster shares: the forecast frame and the held-out validation report."""

from __future__ import annotations

from collections.abc import Callable

import numpy as np
import pandas as pd

from ml.config import QUANTILES, ForecastSpec
from ml.evaluation import coverage, mae, mase, pinball
from ml.models.base import FORECAST_COLUMNS, FitReport
from ml.models.fallback import seasonal_naive_forecast


def forecast_frame(
    origins: pd.Series, quantiles: np.ndarray, spec: ForecastSpec, method: str
) -> pd.DataFrame:
    """origins: last ts per series_id (index); quantiles: (series, horizon, 3), any order."""
    quantiles = np.sort(np.asarray(quantiles, dtype="float64"), axis=-1)
    steps = np.arange(1, spec.horizon + 1)
    offset = pd.tseries.frequencies.to_offset(spec.freq)
    future = {
        o: pd.date_range(o, periods=spec.horizon + 1, freq=offset)[1:] for o in origins.unique()
    }
    n = len(origins)
    return pd.DataFrame(
        {
            "series_id": np.repeat(origins.index.to_numpy(), spec.horizon),
            "forecast_origin": np.repeat(origins.to_numpy(), spec.horizon),
            "target_ts": np.concatenate([future[o] for o in origins]) if n else [],
            "horizon_step": np.tile(steps, n),
            "p10": quantiles[..., 0].ravel(),
            "p50": quantiles[..., 1].ravel(),
            "p90": quantiles[..., 2].ravel(),
            "method": method,
        }
    )[FORECAST_COLUMNS]


def split_holdout(frame: pd.DataFrame, horizon: int) -> tuple[pd.DataFrame, pd.DataFrame]:
    """(history, held-out last `horizon` rows) of every series longer than the horizon."""
    sizes = frame.groupby("series_id")["ts"].transform("size")
    position = frame.groupby("series_id").cumcount()
    eligible = sizes > horizon
    history = frame[eligible & (position < sizes - horizon)].reset_index(drop=True)
    held_out = frame[eligible & (position >= sizes - horizon)].reset_index(drop=True)
    return history, held_out


def unvalidated_report(
    frame: pd.DataFrame, seconds: float, n_samples: int, epochs: int
) -> FitReport:
    """The report of fit(validate=False): training facts, NaN validation metrics."""
    nan = float("nan")
    return FitReport(
        train_seconds=seconds,
        n_series=frame["series_id"].nunique(),
        n_train_samples=int(n_samples),
        epochs=int(epochs),
        val_mae=nan,
        val_mase=nan,
        val_coverage_80=nan,
        val_pinball=nan,
        baseline_val_mase=nan,
        validation_forecasts=pd.DataFrame(
            columns=["series_id", "target_ts", "actual", "p10", "p50", "p90"]
        ),
    )


def holdout_report(
    frame: pd.DataFrame,
    spec: ForecastSpec,
    predict: Callable[[pd.DataFrame], pd.DataFrame],
    seconds: float,
    n_samples: int,
    epochs: int,
) -> FitReport:
    """Forecast each series' last `horizon` steps from the rest and score them."""
    history, held_out = split_holdout(frame, spec.horizon)
    if history.empty:  # every series within one horizon of its start: nothing to hold out
        return unvalidated_report(frame, seconds, n_samples, epochs)
    actual = held_out[["series_id", "ts", "value"]].rename(
        columns={"ts": "target_ts", "value": "actual"}
    )
    validation = predict(history).merge(actual, on=["series_id", "target_ts"], how="inner")
    return validation_report(frame, history, validation, spec, seconds, n_samples, epochs)


def validation_report(
    frame: pd.DataFrame,
    history: pd.DataFrame,
    validation: pd.DataFrame,
    spec: ForecastSpec,
    seconds: float,
    n_samples: int,
    epochs: int,
) -> FitReport:
    """Score out-of-sample forecasts (series_id, target_ts, actual, p10, p50, p90) made from
    `history`, the rows before them; MASE scaled by each series' history."""
    m = spec.season_length
    scores, baseline = [], []
    pasts = history.groupby("series_id", sort=False)  # indexed once: not a scan per series
    for sid, val in validation.groupby("series_id"):
        past = pasts.get_group(sid)
        scores.append(mase(val["actual"], val["p50"], past["value"], m))
        naive = seasonal_naive_forecast(past, spec)
        baseline.append(mase(val["actual"], naive["p50"].to_numpy(), past["value"], m))
    # method (where the model labels its rows): which held-out rows were its fallback.
    columns = ["series_id", "target_ts", "actual", "p10", "p50", "p90"]
    columns += ["method"] if "method" in validation else []
    return FitReport(
        train_seconds=seconds,
        n_series=frame["series_id"].nunique(),
        n_train_samples=int(n_samples),
        epochs=int(epochs),
        val_mae=mae(validation["actual"], validation["p50"]),
        val_mase=float(np.nanmean(scores)) if scores else float("nan"),
        val_coverage_80=coverage(validation["actual"], validation["p10"], validation["p90"]),
        val_pinball=float(
            np.mean(
                [
                    pinball(validation["actual"], validation[f"p{round(q * 100)}"], q)
                    for q in QUANTILES
                ]
            )
        ),
        baseline_val_mase=float(np.nanmean(baseline)) if baseline else float("nan"),
        validation_forecasts=validation[columns],
    )
