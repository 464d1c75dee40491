"""Drift statistics (ml/drift.py) and the forecast publication checks (orchestration/checks.py)."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from ml.drift import (
    ALL_SERIES,
    DriftThresholds,
    accuracy_degraded,
    drift_table,
    drift_verdict,
    ks_test,
    population_stability_index,
    realised_mae,
)
from ml.synthetic import generate_server_metrics
from orchestration.checks import evaluate_forecasts


def test_psi_is_zero_for_the_same_sample_and_large_for_a_shift():
    rng = np.random.default_rng(0)
    reference = rng.normal(0, 1, 5000)
    assert population_stability_index(reference, reference) == pytest.approx(0.0, abs=1e-9)
    assert population_stability_index(reference, rng.normal(0, 1, 5000)) < 0.05
    assert population_stability_index(reference, rng.normal(1.5, 1, 5000)) > 1.0


def test_psi_counts_values_beyond_the_reference_range():
    reference = np.linspace(0, 1, 100)
    assert population_stability_index(reference, np.full(50, 10.0)) > 5


def test_ks_matches_scipy_and_ignores_nan():
    a, b = np.array([1.0, 2.0, 3.0, np.nan]), np.array([10.0, 11.0, 12.0])
    statistic, pvalue = ks_test(a, b)
    assert statistic == 1.0 and pvalue < 0.2
    assert np.isnan(ks_test(np.array([]), b)[0])


def _split(frame: pd.DataFrame, cut: int):
    first = frame["ts"].min() + pd.Timedelta(hours=cut)
    return frame[frame["ts"] < first], frame[frame["ts"] >= first]


def test_degrading_scenario_drifts_and_healthy_does_not():
    healthy = generate_server_metrics(6, 24 * 21, scenario="healthy", seed=3)
    degrading = generate_server_metrics(6, 24 * 21, scenario="degrading", seed=3)
    reference, calm = _split(healthy, 24 * 14)
    _, leaking = _split(degrading, 24 * 14)
    thresholds = DriftThresholds(psi=0.25, ks_pvalue=0.01, min_recent=10)

    calm_table = drift_table(reference, calm, ["value"], thresholds)
    assert drift_verdict(calm_table, "value", min_share=0.2) == (False, 0.0)

    table = drift_table(reference, leaking, ["value"], thresholds)
    retrain, share = drift_verdict(table, "value", min_share=0.2)
    assert retrain and share > 0.5
    overall = table[table["series_id"] == ALL_SERIES].iloc[0]
    assert overall["drifted"] and overall["n_recent"] == len(leaking)


def test_drift_names_missing_columns():
    frame = pd.DataFrame({"series_id": ["a"], "value": [1.0]})
    with pytest.raises(ValueError, match="rolling_mean_short"):
        drift_table(frame, frame, ["value", "rolling_mean_short"])


def test_accuracy_verdict():
    versus = pd.DataFrame({"actual": [1.0, 3.0], "p50": [2.0, 2.0]})
    assert realised_mae(versus) == 1.0
    assert accuracy_degraded(3.1, 2.0, max_ratio=1.5)
    assert not accuracy_degraded(2.9, 2.0, max_ratio=1.5)
    assert not accuracy_degraded(float("nan"), 2.0, max_ratio=1.5)


def _forecasts(series=("a", "b"), horizon=2, p50=5.0) -> pd.DataFrame:
    rows = [
        {"series_id": s, "horizon_step": h, "p10": p50 - 1, "p50": p50, "p90": p50 + 1}
        for s in series
        for h in range(1, horizon + 1)
    ]
    return pd.DataFrame(rows)


HISTORY = pd.DataFrame({"series_id": ["a", "a", "b", "b"], "value": [4.0, 6.0, 4.0, 6.0]})


def _failed(forecasts: pd.DataFrame) -> dict[str, str]:
    outcomes = evaluate_forecasts(forecasts, HISTORY, horizon=2, range_factor=1.0)
    return {o.name: o.detail for o in outcomes if not o.passed}


def test_good_forecasts_pass_every_check():
    assert _failed(_forecasts()) == {}
    # A passed check says what held, not just "ok" (Dagster shows the detail).
    outcomes = evaluate_forecasts(_forecasts(), HISTORY, horizon=2, range_factor=1.0)
    details = {o.name: o.detail for o in outcomes}
    assert details["every_series_forecast"] == "every series has its 2 forecast rows"
    assert all(len(detail) > 20 for detail in details.values()), details


def test_each_check_catches_its_problem():
    nan = _forecasts()
    nan.loc[0, "p90"] = np.nan
    assert set(_failed(nan)) == {"no_nan_quantiles"}

    misordered = _forecasts()
    misordered.loc[1, "p10"] = 99.0
    assert set(_failed(misordered)) == {"quantiles_ordered"}

    missing = _failed(_forecasts(series=("a",)))
    assert set(missing) == {"every_series_forecast"} and "'b'" in missing["every_series_forecast"]

    implausible = _failed(_forecasts(p50=50.0).assign(p10=49.0, p90=51.0))
    assert set(implausible) == {"within_plausible_range"}
