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

from orchestration.dbt_models import ANOMALIES_MODEL, relation_of

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
    problem = f"{bad} row(s) with NaN/infinite quantiles"
    return _outcome("no_nan_quantiles", bad == 0, problem, "every p10, p50 and p90 is finite")


def _ordered(forecasts: pd.DataFrame) -> CheckOutcome:
    bad = int(((forecasts["p10"] > forecasts["p50"]) | (forecasts["p50"] > forecasts["p90"])).sum())
    problem = f"{bad} row(s) with p10 > p50 or p50 > p90"
    return _outcome("quantiles_ordered", bad == 0, problem, "p10 <= p50 <= p90 on every row")


def _complete(forecasts: pd.DataFrame, expected: set[str], horizon: int) -> CheckOutcome:
    counts = forecasts.groupby("series_id").size()
    missing = sorted(expected - set(counts.index))
    short = sorted(counts[counts != horizon].index)
    problems = []
    if missing:
        problems.append(f"{len(missing)} series without a forecast, e.g. {missing[:3]}")
    if short:
        problems.append(f"{len(short)} series without exactly {horizon} rows, e.g. {short[:3]}")
    held = f"every series has its {horizon} forecast rows"
    return _outcome("every_series_forecast", not problems, "; ".join(problems), held)


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
    held = "every p50 lies within the plausible range of its series' history"
    return _outcome("within_plausible_range", outside.empty, detail, held)


def _outcome(name: str, passed: bool, problem: str, held: str) -> CheckOutcome:
    """detail: what held (a person reading a passed check learns what it checked) or what
    failed, with counts and examples."""
    return CheckOutcome(name, passed, CHECKS[name], held if passed else problem)


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
    """Dagster freshness check on raw/observations (orchestration/sensors.py evaluates it)."""
    # Superseded by FreshnessPolicy in Dagster 1.13, but these still show as asset checks in the
    # UI and run without the new freshness daemon.
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", category=dg.SupersessionWarning)
        return dg.build_last_update_freshness_checks(
            assets=[raw_key], lower_bound_delta=timedelta(hours=max_age_hours)
        )


# Anomaly share (marts.fct_forecast_anomalies). An 80 % band (p10-p90) leaves about 20 % of
# actuals outside when calibrated; the check warns when the champion's newest period with actuals
# has more than ANOMALY_WARN_FACTOR x that share, and says nothing conclusive under
# ANOMALY_MIN_POINTS points. A calibrated band puts more than 40 % of 20 points outside by chance
# with probability 1 % (binomial), of 148 points (the demo's backtested series) ~1e-8.
ANOMALY_CHECK = "anomaly_share_newest_period"
ANOMALY_NOMINAL_SHARE = 0.2
ANOMALY_WARN_FACTOR = 2.0
ANOMALY_MIN_POINTS = 20
# The mart's rows counted per group: Warehouse.summarize(group_by=ANOMALY_GROUPS).
ANOMALY_GROUPS = ["band_source", "model", "is_champion_model", "target_ts", "is_anomaly"]


def _newest_champion_period(counts: pd.DataFrame) -> pd.DataFrame:
    """The champion's bands of the newest period with actuals: the published forecast's when it
    has any there, else the newest backtest's (the mart has both, and every model's bands)."""
    champion = counts[counts["is_champion_model"].astype(bool)]
    if champion.empty:
        return champion
    period = champion[champion["target_ts"] == champion["target_ts"].max()]
    published = period[period["band_source"] == "forecast"]
    return published if not published.empty else period


def anomaly_share_result(counts: pd.DataFrame, asset_key: dg.AssetKey) -> dg.AssetCheckResult:
    """WARN when the champion's newest period has a share of anomalies far above nominal.

    counts: one row per ANOMALY_GROUPS group with row_count (Warehouse.summarize's shape).
    """
    counts = counts.rename(columns=str.lower)
    warn_above = ANOMALY_WARN_FACTOR * ANOMALY_NOMINAL_SHARE
    metadata = {"nominal_share": ANOMALY_NOMINAL_SHARE, "warn_above_share": warn_above}
    period = _newest_champion_period(counts)
    if period.empty:
        metadata["detail"] = "no band of the champion has an observed actual yet"
        return dg.AssetCheckResult(
            asset_key=asset_key, check_name=ANOMALY_CHECK, passed=True, metadata=metadata
        )
    newest = pd.Timestamp(period["target_ts"].iloc[0])
    points = int(period["row_count"].sum())
    anomalies = int(period.loc[period["is_anomaly"].astype(bool), "row_count"].sum())
    warn = points >= ANOMALY_MIN_POINTS and anomalies / points > warn_above
    source = str(period["band_source"].iloc[0])
    models = ", ".join(sorted(period["model"].astype(str).unique()))
    every_model = counts[(counts["target_ts"] == newest) & (counts["band_source"] == source)]
    every_anomaly = every_model.loc[every_model["is_anomaly"].astype(bool), "row_count"].sum()
    metadata.update(
        newest_period=str(newest),
        band_source=source,
        model=models,
        points=points,
        anomalies=anomalies,
        anomaly_share=anomalies / points,
        every_model_anomaly_share=float(every_anomaly / every_model["row_count"].sum()),
        detail=_anomaly_detail(anomalies, points, newest, warn, f"{models}'s {source} bands"),
    )
    return dg.AssetCheckResult(
        asset_key=asset_key,
        check_name=ANOMALY_CHECK,
        passed=not warn,
        severity=dg.AssetCheckSeverity.WARN,
        metadata=metadata,
    )


def _anomaly_detail(
    anomalies: int, points: int, period: pd.Timestamp, warn: bool, bands: str
) -> str:
    share = anomalies / points
    detail = f"{anomalies} of {points} actuals of {period} outside p10-p90 of {bands} ({share:.0%})"
    if points < ANOMALY_MIN_POINTS:
        return detail + f"; fewer than {ANOMALY_MIN_POINTS} points: not judged"
    if warn:
        limit = ANOMALY_WARN_FACTOR * ANOMALY_NOMINAL_SHARE
        return detail + (
            f", above {limit:.0%}: the bands are too narrow or the data changed; "
            "see marts.fct_forecast_anomalies"
        )
    return detail


def anomaly_share_check(asset_key: dg.AssetKey) -> dg.AssetChecksDefinition:
    """The asset check on marts/fct_forecast_anomalies (a dbt view), run after dbt builds it."""
    from orchestration.resources import WarehouseResource

    @dg.asset_check(
        asset=asset_key,
        name=ANOMALY_CHECK,
        description=(
            f"Share of actuals outside the champion's p10-p90 in the newest period with actuals "
            f"(the published forecast's bands, else the newest backtest's); warns above "
            f"{ANOMALY_WARN_FACTOR:g} x the nominal {ANOMALY_NOMINAL_SHARE:.0%} "
            f"(at least {ANOMALY_MIN_POINTS} points)."
        ),
    )
    def anomaly_share_newest_period(warehouse: WarehouseResource) -> dg.AssetCheckResult:
        schema, table = relation_of(ANOMALIES_MODEL)
        counts = warehouse.client().summarize(schema, table, group_by=ANOMALY_GROUPS)
        return anomaly_share_result(counts.to_pandas(), asset_key)

    return anomaly_share_newest_period
