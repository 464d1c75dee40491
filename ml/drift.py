"""Model-free drift and accuracy statistics: recent data against a reference (training) window.

Pure NumPy/SciPy/pandas: frames in, frames out. PSI uses the reference's deciles as bins, so it
measures how the recent distribution moved relative to what the model was trained on.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd
from scipy import stats

ALL_SERIES = "__all__"
_EPS = 1e-6


def population_stability_index(reference: np.ndarray, recent: np.ndarray, bins: int = 10) -> float:
    """PSI = sum((recent% - ref%) * ln(recent% / ref%)) over the reference's quantile bins.

    Rules of thumb: < 0.1 stable, 0.1-0.25 moderate shift, > 0.25 significant shift.
    """
    reference, recent = _finite(reference), _finite(recent)
    if len(reference) == 0 or len(recent) == 0:
        return float("nan")
    edges = np.unique(np.quantile(reference, np.linspace(0, 1, bins + 1)))
    if len(edges) < 2:  # a constant reference: one bin either side of it
        edges = np.array([edges[0] - _EPS, edges[0] + _EPS])
    # Open outer bins, so recent values beyond the reference's range still count.
    edges[0], edges[-1] = -np.inf, np.inf
    ref_share = np.histogram(reference, edges)[0] / len(reference)
    new_share = np.histogram(recent, edges)[0] / len(recent)
    ref_share, new_share = np.clip(ref_share, _EPS, None), np.clip(new_share, _EPS, None)
    return float(np.sum((new_share - ref_share) * np.log(new_share / ref_share)))


def ks_test(reference: np.ndarray, recent: np.ndarray) -> tuple[float, float]:
    """Two-sample Kolmogorov-Smirnov (statistic, p-value); NaNs when a side is empty."""
    reference, recent = _finite(reference), _finite(recent)
    if len(reference) == 0 or len(recent) == 0:
        return float("nan"), float("nan")
    result = stats.ks_2samp(reference, recent)
    return float(result.statistic), float(result.pvalue)


def _finite(values) -> np.ndarray:
    values = np.asarray(values, dtype="float64")
    return values[np.isfinite(values)]


@dataclass(frozen=True)
class DriftThresholds:
    psi: float = 0.25
    ks_pvalue: float = 0.01
    min_recent: int = 10


def drift_table(
    reference: pd.DataFrame,
    recent: pd.DataFrame,
    columns: list[str],
    thresholds: DriftThresholds = DriftThresholds(),
) -> pd.DataFrame:
    """PSI and KS per (series, column) and for all series pooled (series_id = '__all__').

    A row is `drifted` when PSI passes the threshold and KS rejects equality; series with fewer
    than `min_recent` recent rows are reported but never called drifted.
    """
    missing = [c for c in ["series_id", *columns] if c not in reference or c not in recent]
    if missing:
        raise ValueError(f"Drift needs columns {missing} in both frames; check drift_columns.")
    rows = []
    for series_id, ref_part in reference.groupby("series_id", sort=True):
        new_part = recent[recent["series_id"] == series_id]
        rows += [_compare(series_id, c, ref_part[c], new_part[c], thresholds) for c in columns]
    rows += [_compare(ALL_SERIES, c, reference[c], recent[c], thresholds) for c in columns]
    return pd.DataFrame(rows)


def _compare(series_id, column, reference, recent, thresholds: DriftThresholds) -> dict:
    psi = population_stability_index(reference, recent)
    ks_stat, ks_p = ks_test(reference, recent)
    n_recent = int(np.isfinite(np.asarray(recent, dtype="float64")).sum())
    drifted = bool(
        n_recent >= thresholds.min_recent and psi > thresholds.psi and ks_p < thresholds.ks_pvalue
    )
    return {
        "series_id": str(series_id),
        "column_name": column,
        "psi": psi,
        "ks_statistic": ks_stat,
        "ks_pvalue": ks_p,
        "n_reference": int(np.isfinite(np.asarray(reference, dtype="float64")).sum()),
        "n_recent": n_recent,
        "drifted": drifted,
    }


def drift_verdict(table: pd.DataFrame, target: str, min_share: float) -> tuple[bool, float]:
    """(retrain?, share of series whose target drifted): retrain when the pooled target drifted
    or at least `min_share` of the series did."""
    target_rows = table[table["column_name"] == target]
    per_series = target_rows[target_rows["series_id"] != ALL_SERIES]
    share = float(per_series["drifted"].mean()) if len(per_series) else 0.0
    overall = bool(target_rows.loc[target_rows["series_id"] == ALL_SERIES, "drifted"].any())
    return overall or share >= min_share, share


def realised_mae(versus: pd.DataFrame) -> float:
    """Mean |actual - p50| over forecast rows whose actuals have arrived (NaN if none)."""
    errors = (versus["actual"] - versus["p50"]).abs()
    return float(errors.mean()) if len(errors) else float("nan")


def accuracy_degraded(realised: float, validation: float, max_ratio: float) -> bool:
    """Realised error more than `max_ratio` times the error measured at validation."""
    if not np.isfinite(realised) or not np.isfinite(validation) or validation <= 0:
        return False
    return realised > max_ratio * validation
