"""Checks that stand between a forecast and its publication, and freshness of the raw source.

The forecast checks run inside ml/forecasts *before* anything is written: each is reported to
Dagster as an asset check (blocking, so the UI shows why a publication stopped), and any
failure stops the write, leaving the previous forecasts in place.
"""

import warnings
from dataclasses import dataclass
from datetime import timedelta

import dagster as dg
import numpy as np
import pandas as pd

QUANTILES = ["p10", "p50", "p90"]


@dataclass(frozen=True)
class CheckOutcome:
    name: str
    passed: bool
    description: str
    detail: str


CHECKS = {
    "no_nan_quantiles": "No NaN or infinite p10/p50/p90.",
    "quantiles_ordered": "p10 <= p50 <= p90 on every row.",
    "every_series_forecast": "Every series of the feature mart has `horizon` forecast rows.",
    "within_plausible_range": (
        "p50 within [min - f*range, max + f*range] of the series' own history "
        "(f: operations.plausible_range_factor)."
    ),
}


def forecast_check_specs(asset_key: dg.AssetKey) -> list[dg.AssetCheckSpec]:
    return [
        dg.AssetCheckSpec(name, asset=asset_key, description=text, blocking=True)
        for name, text in CHECKS.items()
    ]


def evaluate_forecasts(
    forecasts: pd.DataFrame, history: pd.DataFrame, horizon: int, range_factor: float
) -> list[CheckOutcome]:
    """Every publication check on the forecast frame, against the history it came from."""
    return [
        _no_nan(forecasts),
        _ordered(forecasts),
        _complete(forecasts, set(history["series_id"].unique()), horizon),
        _plausible(forecasts, history, range_factor),
    ]


def _no_nan(forecasts: pd.DataFrame) -> CheckOutcome:
    values = forecasts[QUANTILES].astype("float64").to_numpy()
    bad = int((~np.isfinite(values)).any(axis=1).sum())
    return _outcome("no_nan_quantiles", bad == 0, f"{bad} row(s) with NaN/infinite quantiles")


def _ordered(forecasts: pd.DataFrame) -> CheckOutcome:
    bad = int(((forecasts["p10"] > forecasts["p50"]) | (forecasts["p50"] > forecasts["p90"])).sum())
    return _outcome("quantiles_ordered", bad == 0, f"{bad} row(s) with p10 > p50 or p50 > p90")


def _complete(forecasts: pd.DataFrame, expected: set[str], horizon: int) -> CheckOutcome:
    counts = forecasts.groupby("series_id").size()
    missing = sorted(expected - set(counts.index))
    short = sorted(counts[counts != horizon].index)
    problems = []
    if missing:
        problems.append(f"{len(missing)} series without a forecast, e.g. {missing[:3]}")
    if short:
        problems.append(f"{len(short)} series without exactly {horizon} rows, e.g. {short[:3]}")
    return _outcome("every_series_forecast", not problems, "; ".join(problems))


def _plausible(forecasts: pd.DataFrame, history: pd.DataFrame, factor: float) -> CheckOutcome:
    span = history.groupby("series_id")["value"].agg(["min", "max"])
    width = (span["max"] - span["min"]).clip(lower=span["max"].abs() * 0.1)
    bounds = pd.DataFrame(
        {"low": span["min"] - factor * width, "high": span["max"] + factor * width}
    )
    joined = forecasts.join(bounds, on="series_id")
    outside = joined[(joined["p50"] < joined["low"]) | (joined["p50"] > joined["high"])]
    detail = f"{len(outside)} forecast(s) outside the plausible range"
    if len(outside):
        detail += f", e.g. series {sorted(outside['series_id'].unique())[:3]}"
    return _outcome("within_plausible_range", outside.empty, detail)


def _outcome(name: str, passed: bool, problem: str) -> CheckOutcome:
    return CheckOutcome(name, passed, CHECKS[name], "ok" if passed else problem)


def as_check_results(outcomes: list[CheckOutcome], asset_key: dg.AssetKey):
    return [
        dg.AssetCheckResult(
            asset_key=asset_key,
            check_name=o.name,
            passed=o.passed,
            severity=dg.AssetCheckSeverity.ERROR,
            metadata={"detail": o.detail},
        )
        for o in outcomes
    ]


def raw_freshness_checks(raw_key: dg.AssetKey, max_age_hours: float):
    """Dagster freshness check on raw/observations, and the sensor that evaluates it."""
    # Superseded by FreshnessPolicy in Dagster 1.13, but these still show as asset checks in the
    # UI and run without the new freshness daemon.
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", category=dg.SupersessionWarning)
        checks = dg.build_last_update_freshness_checks(
            assets=[raw_key], lower_bound_delta=timedelta(hours=max_age_hours)
        )
        sensor = dg.build_sensor_for_freshness_checks(
            freshness_checks=checks, name="raw_freshness_sensor"
        )
    return checks, sensor
