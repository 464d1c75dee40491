"""Seeded, vectorised hourly server-metrics series (memory utilisation %, 0-100).

healthy:   steady level + daily (24 h) and weekly (168 h) cycles + noise
degrading: healthy plus a slow leak that climbs toward saturation (100 %)
critical:  healthy plus sudden spikes, and outages: hours with no row at all (the agent was down)
mixed:     each series draws one of the three (60 / 25 / 15 %)
"""

from __future__ import annotations

import numpy as np
import pandas as pd

SCENARIOS = ("healthy", "degrading", "critical", "mixed")


def generate_server_metrics(
    n_series: int,
    n_hours: int,
    scenario: str = "healthy",
    seed: int = 0,
    start: str = "2024-01-01",
) -> pd.DataFrame:
    if scenario not in SCENARIOS:
        raise ValueError(f"scenario must be one of {SCENARIOS}, got {scenario!r}")
    rng = np.random.default_rng(seed)
    hours = np.arange(n_hours)
    level = rng.uniform(20, 60, size=(n_series, 1))
    daily = rng.uniform(3, 12, size=(n_series, 1)) * np.sin(
        2 * np.pi * (hours + rng.integers(0, 24, (n_series, 1))) / 24
    )
    weekly = rng.uniform(1, 6, size=(n_series, 1)) * np.sin(2 * np.pi * hours / 168)
    values = level + daily + weekly + rng.normal(0, 1.5, size=(n_series, n_hours))

    kinds = _scenario_per_series(scenario, n_series, rng)
    leak = rng.uniform(0.3, 1.0, size=(n_series, 1)) * (hours / n_hours) ** 2
    values += np.where(kinds[:, None] == 1, leak * (100 - level), 0.0)
    spikes = (rng.random((n_series, n_hours)) < 0.01) & (kinds[:, None] == 2)
    values = np.where(spikes, values + rng.uniform(20, 50, (n_series, n_hours)), values)
    values = np.clip(values, 0, 100)

    outage = (rng.random((n_series, n_hours)) < 0.005) & (kinds[:, None] == 2)
    outage = outage | np.roll(outage, 1, axis=1) | np.roll(outage, 2, axis=1)  # 3-hour outages
    ids = np.char.add("server_", np.char.zfill(np.arange(n_series).astype(str), len(str(n_series))))
    ts = pd.date_range(start, periods=n_hours, freq="h").to_numpy()
    keep = ~outage.ravel()
    return pd.DataFrame(
        {
            "series_id": np.repeat(ids, n_hours)[keep],
            "ts": np.tile(ts, n_series)[keep],
            "value": values.ravel()[keep],
        }
    )


def _scenario_per_series(scenario: str, n_series: int, rng) -> np.ndarray:
    if scenario == "mixed":
        return rng.choice(3, size=n_series, p=[0.6, 0.25, 0.15])
    return np.full(n_series, SCENARIOS.index(scenario))
