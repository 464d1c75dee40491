"""Reconciliation: S from the tree, p50s that add up exactly, ordered quantiles, clear errors."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from ml.backtest import BacktestConfig
from ml.config import ForecastSpec
from ml.errors import InvalidInputError
from ml.hierarchy import HierarchyConfig, coherence_gap, reconcile, summing_matrix
from ml.hierarchy_backtest import hierarchical_backtest, hierarchical_forecasts, level_accuracy
from ml.models import create_forecaster

# total -> A, B; A -> a1, a2; B -> b1 (B's only series), as dbt's dim_hierarchy describes it.
DIM = pd.DataFrame(
    {
        "series_id": ["total", "state=A", "state=B", "a1", "a2", "b1"],
        "level": ["total", "state", "state", "series", "series", "series"],
        "level_depth": [0, 1, 1, 3, 3, 3],
        "parent_id": [None, "total", "total", "state=A", "state=A", "state=B"],
    }
)
HORIZON = 4


def _base(seed: int = 0, dim: pd.DataFrame = DIM) -> pd.DataFrame:
    """Incoherent base forecasts: every node's own p50, bands of random width."""
    rng = np.random.default_rng(seed)
    origin = pd.Timestamp("2020-12-01")
    rows = []
    for node in dim["series_id"]:
        level = 30.0 if node == "total" else 15.0 if node.startswith("state") else 5.0
        for step in range(1, HORIZON + 1):
            p50 = level + rng.normal(0, 2)
            low, high = rng.uniform(0.5, 3, size=2)
            rows.append(
                (
                    node,
                    origin,
                    origin + pd.DateOffset(months=step),
                    step,
                    p50 - low,
                    p50,
                    p50 + high,
                )
            )
    columns = ["series_id", "forecast_origin", "target_ts", "horizon_step", "p10", "p50", "p90"]
    return pd.DataFrame(rows, columns=columns)


def _residuals(seed: int = 1) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    ts = pd.date_range("2019-01-01", periods=12, freq="MS")
    return pd.DataFrame(
        [(node, t, rng.normal(0, 1)) for node in DIM["series_id"] for t in ts],
        columns=["series_id", "target_ts", "residual"],
    )


def test_summing_matrix_maps_every_node_to_its_series():
    S = summing_matrix(DIM)
    assert list(S.index) == ["total", "state=A", "state=B", "a1", "a2", "b1"]
    assert list(S.columns) == ["a1", "a2", "b1"]
    expected = [[1, 1, 1], [1, 1, 0], [0, 0, 1], [1, 0, 0], [0, 1, 0], [0, 0, 1]]
    np.testing.assert_array_equal(S.to_numpy(), np.array(expected, dtype=float))


@pytest.mark.parametrize(
    ("change", "message"),
    [
        (lambda d: d.assign(series_id=d["series_id"].replace({"a1": "total"})), "appear twice"),
        (lambda d: d.assign(parent_id=d["parent_id"].replace({"state=B": "state=C"})), "unknown"),
        (lambda d: d[d["series_id"] != "b1"], "no series under"),
    ],
)
def test_summing_matrix_refuses_broken_trees(change, message):
    with pytest.raises(InvalidInputError, match=message):
        summing_matrix(change(DIM))


@pytest.mark.parametrize("method", ["bottom_up", "mint_shrink"])
def test_reconciled_p50s_add_up_exactly_and_quantiles_stay_ordered(method):
    base = _base()
    assert coherence_gap(base, DIM) > 0.1  # the base forecasts do not add up: the check can fail
    out = reconcile(base, summing_matrix(DIM), method, _residuals())
    assert len(out) == len(base)
    assert coherence_gap(out, DIM) < 1e-9
    wide = out.pivot(index="target_ts", columns="series_id", values="p50")
    np.testing.assert_allclose(wide["total"], wide["a1"] + wide["a2"] + wide["b1"], rtol=1e-12)
    np.testing.assert_allclose(wide["state=A"], wide["a1"] + wide["a2"], rtol=1e-12)
    assert ((out["p10"] <= out["p50"]) & (out["p50"] <= out["p90"])).all()
    # The band keeps the base model's widths around the reconciled p50.
    merged = out.merge(base, on=["series_id", "horizon_step"], suffixes=("", "_base"))
    np.testing.assert_allclose(
        merged["p90"] - merged["p50"], merged["p90_base"] - merged["p50_base"]
    )
    assert set(out["method"]) == {method}


def test_bottom_up_keeps_the_bottom_forecasts_and_mint_moves_them():
    base = _base()
    bottom_up = reconcile(base, summing_matrix(DIM), "bottom_up")
    mint = reconcile(base, summing_matrix(DIM), "mint_shrink", _residuals())
    bottoms = base[base["series_id"].isin(["a1", "a2", "b1"])].sort_values(
        ["series_id", "horizon_step"], ignore_index=True
    )
    for out, same in ((bottom_up, True), (mint, False)):
        got = out[out["series_id"].isin(["a1", "a2", "b1"])].sort_values(
            ["series_id", "horizon_step"], ignore_index=True
        )
        assert np.allclose(got["p50"], bottoms["p50"]) == same


def test_a_dropped_child_fails_with_its_name():
    base = _base()
    with pytest.raises(InvalidInputError, match="a2"):
        reconcile(base[base["series_id"] != "a2"], summing_matrix(DIM), "bottom_up")
    with pytest.raises(InvalidInputError, match="residuals"):
        reconcile(base, summing_matrix(DIM), "mint_shrink", None)


@pytest.mark.parametrize("levels", [[], ["State"], ["state", "state"], ["series_id"]])
def test_hierarchy_config_refuses_bad_levels(levels):
    with pytest.raises(ValueError, match="levels"):
        HierarchyConfig(levels=levels)


def _monthly_tree(n_months: int = 60) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Bottom series with trend and season, and their sums, as dbt's mart builds them."""
    rng = np.random.default_rng(3)
    ts = pd.date_range("2015-01-01", periods=n_months, freq="MS")
    season = 1 + 0.2 * np.sin(2 * np.pi * np.arange(n_months) / 12)
    bottoms = {
        sid: pd.DataFrame(
            {"series_id": sid, "ts": ts, "value": (10 + i) * season + rng.normal(0, 0.5, n_months)}
        )
        for i, sid in enumerate(["a1", "a2", "b1"])
    }
    frame = pd.concat(bottoms.values(), ignore_index=True)
    parents = DIM.set_index("series_id")["parent_id"]
    sums = []
    for node in ["state=A", "state=B", "total"]:
        under = [s for s in bottoms if parents[s] == node or node == "total"]
        part = frame[frame["series_id"].isin(under)].groupby("ts", as_index=False)["value"].sum()
        sums.append(part.assign(series_id=node))
    return pd.concat([frame, *sums], ignore_index=True), DIM


def test_forecasts_and_backtest_of_every_level():
    frame, dim = _monthly_tree()
    spec = ForecastSpec(horizon=6, freq="MS", season_length=12)

    def build():
        return create_forecaster("seasonal_naive", "tiny")

    out = hierarchical_forecasts(frame, dim, spec, build)
    assert set(out["method"]) == {"base", "bottom_up", "mint_shrink"}
    assert len(out) == 3 * len(dim) * spec.horizon
    for method in ("bottom_up", "mint_shrink"):
        assert coherence_gap(out[out["method"] == method], dim) < 1e-9

    points = hierarchical_backtest(frame, dim, spec, build, BacktestConfig(cutoffs=2, step=6))
    assert points["cutoff"].nunique() == 2
    assert (points["target_ts"] > points["cutoff"]).all()
    board = level_accuracy(points, dim)
    assert set(zip(board["level"], board["method"], strict=True)) == {
        (level, method)
        for level in ("total", "state", "series")
        for method in ("base", "bottom_up", "mint_shrink")
    }
    assert np.isfinite(board["mase"]).all()
    bottom_up_total = board[(board["level"] == "total") & (board["method"] == "bottom_up")]
    base_series = board[(board["level"] == "series") & (board["method"] == "base")]
    assert bottom_up_total["n_series"].item() == 1
    assert base_series["n_series"].item() == 3
