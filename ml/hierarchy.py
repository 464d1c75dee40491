"""Hierarchical reconciliation: forecasts of every level made to add up (pure pandas/numpy).

The tree comes from dbt's marts.dim_hierarchy (series_id, level, level_depth, parent_id): the
bottom rows (level 'series') are the loaded series, every other row an aggregate of them. The
summing matrix S has one row per node (aggregates first, bottom series last, as
hierarchicalforecast expects) and one column per bottom series; S[i, j] = 1 when bottom series j
lies under node i.

Reconciliation (hierarchicalforecast): the base p50s y_hat are mapped to S P y_hat, so every
aggregate's reconciled p50 is exactly the sum of its bottom series' (to float rounding).
`bottom_up` keeps the bottom forecasts; `mint_shrink` (Wickramasuriya et al., 2019) weighs every
level by a shrunk covariance of the base models' held-out errors.

Quantiles: only the p50 is reconciled. p10 and p90 keep the base forecast's distances below and
above its p50 (the band moves with the reconciled p50, its width is the base model's), so they
stay ordered whatever the reconciliation does to the p50. Quantiles do not add up across levels,
and these bands do not either; see docs/evaluation.md ("Hierarchies").
"""

from __future__ import annotations

import re
from typing import Literal

import numpy as np
import pandas as pd
from pydantic import BaseModel, ConfigDict, Field, field_validator

from ml.backtest import ModelChoice
from ml.errors import InvalidInputError

BOTTOM_LEVEL = "series"
TOTAL_ID = "total"
METHODS = ("bottom_up", "mint_shrink")
Method = Literal["bottom_up", "mint_shrink"]
_IDENTIFIER = re.compile(r"^[a-z_][a-z0-9_]{0,62}$")
_KEY = ["forecast_origin", "target_ts", "horizon_step"]


class HierarchyConfig(BaseModel):
    """A pipeline's hierarchy (orchestration/pipelines.yaml, `hierarchy:`).

    levels [state, industry] means total -> state -> state x industry -> the series; a
    state x industry node holding exactly one series is that series (no duplicate node).
    """

    model_config = ConfigDict(extra="forbid", frozen=True)

    levels: list[str] = Field(description="attribute columns, outermost first")
    model: ModelChoice = Field(
        default_factory=lambda: ModelChoice(name="auto_theta", preset="small"),
        description="base model fitted on every node; name 'champion' = the backtest's champion "
        "when it is a local statistical model, else auto_theta",
    )
    method: Method = Field("mint_shrink", description="what ml.hierarchical_forecasts serves")
    cutoffs: int = Field(2, ge=1, le=20, description="origins of the per-level backtest")
    step: int | None = Field(None, gt=0, description="periods between them; default horizon")
    max_history: int | None = Field(120, gt=0, description="recent periods the base model sees")

    @field_validator("levels")
    @classmethod
    def _plain_columns(cls, levels: list[str]) -> list[str]:
        if not levels:
            raise ValueError("hierarchy.levels is empty: name the attribute columns, e.g. [state]")
        bad = [name for name in levels if not _IDENTIFIER.match(str(name))]
        if bad:
            raise ValueError(
                f"hierarchy.levels {bad}: use lowercase column names (letters, digits, _)."
            )
        if len(set(levels)) != len(levels):
            raise ValueError(f"hierarchy.levels {levels} names a column twice.")
        if "series_id" in levels:
            raise ValueError("hierarchy.levels cannot contain series_id (the bottom level).")
        return list(levels)


def summing_matrix(dim: pd.DataFrame) -> pd.DataFrame:
    """S from the tree: rows = every node (aggregates by depth, then bottom), columns = bottoms."""
    _check_tree(dim)
    nodes = dim.sort_values(["level_depth", "series_id"], kind="stable")
    bottoms = nodes.loc[nodes["level"] == BOTTOM_LEVEL, "series_id"].tolist()
    parent = dict(zip(dim["series_id"], dim["parent_id"], strict=True))
    rows = nodes["series_id"].tolist()
    position = {node: i for i, node in enumerate(rows)}
    S = np.zeros((len(rows), len(bottoms)))
    for j, bottom in enumerate(bottoms):
        node, steps = bottom, 0
        while isinstance(node, str):
            S[position[node], j] = 1.0
            node, steps = parent[node], steps + 1
            if steps > len(rows):
                raise InvalidInputError(f"dim_hierarchy has a cycle through {bottom!r}.")
    empty = [rows[i] for i in np.flatnonzero(S.sum(axis=1) == 0)]
    if empty:
        raise InvalidInputError(f"Aggregate node(s) {empty[:5]} have no series under them.")
    return pd.DataFrame(S, index=pd.Index(rows, name="series_id"), columns=bottoms)


def _check_tree(dim: pd.DataFrame) -> None:
    needed = {"series_id", "level", "level_depth", "parent_id"}
    if missing := needed - set(dim.columns):
        raise InvalidInputError(f"dim_hierarchy lacks column(s) {sorted(missing)}.")
    if dim.empty:
        raise InvalidInputError("dim_hierarchy is empty: the pipeline's hierarchy has no series.")
    if dim["series_id"].duplicated().any():
        twice = sorted(dim.loc[dim["series_id"].duplicated(), "series_id"])[:5]
        raise InvalidInputError(
            f"Node id(s) {twice} appear twice in dim_hierarchy: a series id collides with an "
            "aggregate's id (e.g. 'total'). Rename the series."
        )
    roots = dim.loc[dim["parent_id"].isna(), "series_id"].tolist()
    if roots != [TOTAL_ID]:
        raise InvalidInputError(f"dim_hierarchy must have one root {TOTAL_ID!r}; it has {roots}.")
    unknown = set(dim["parent_id"].dropna()) - set(dim["series_id"])
    if unknown:
        raise InvalidInputError(f"dim_hierarchy names unknown parent(s) {sorted(unknown)[:5]}.")
    if (dim["level"] == BOTTOM_LEVEL).sum() == 0:
        raise InvalidInputError("dim_hierarchy has no bottom series (level 'series').")


def reconcile(
    base: pd.DataFrame,
    S: pd.DataFrame,
    method: Method,
    residuals: pd.DataFrame | None = None,
) -> pd.DataFrame:
    """Reconciled forecasts of every node in S; base: one row per (series_id, horizon_step) with
    forecast_origin, target_ts, p10, p50, p90. residuals (series_id, target_ts, residual: actual
    minus the base p50 on held-out periods) are what mint_shrink estimates its covariance from.
    """
    if method not in METHODS:
        raise InvalidInputError(f"Unknown reconciliation method {method!r}; use one of {METHODS}.")
    p50, steps = _matrix(base, S, "p50")
    bottom = _projection(S.to_numpy(), p50, method, _residual_matrix(residuals, S, method))
    reconciled = S.to_numpy() @ bottom
    out = _long(steps, S.index, reconciled)
    merged = out.merge(base[["series_id", *_KEY, "p10", "p50", "p90"]], on=["series_id", *_KEY])
    out = merged.rename(columns={"p50_y": "base_p50", "p50_x": "p50"})
    # The base band's distances below/above its p50 ride on the reconciled p50: always ordered.
    out["p10"] = out["p50"] - (out["base_p50"] - out["p10"]).clip(lower=0)
    out["p90"] = out["p50"] + (out["p90"] - out["base_p50"]).clip(lower=0)
    out["method"] = method
    return out[["series_id", *_KEY, "p10", "p50", "p90", "method"]]


def _matrix(base: pd.DataFrame, S: pd.DataFrame, column: str) -> tuple[np.ndarray, pd.DataFrame]:
    """(nodes x steps) matrix in S's row order; every node needs every step, same target_ts."""
    present = set(base["series_id"])
    missing = [node for node in S.index if node not in present]
    if missing:
        raise InvalidInputError(
            f"No base forecast for {len(missing)} node(s) of the hierarchy, e.g. {missing[:3]}: "
            "every series and aggregate needs one, or the sums cannot be reconciled."
        )
    steps = base[_KEY].drop_duplicates().sort_values("horizon_step", ignore_index=True)
    if steps["horizon_step"].duplicated().any():
        raise InvalidInputError(
            "Base forecasts of the hierarchy have different forecast origins or target periods; "
            "every node must end on the same period (dim_hierarchy keeps such series only)."
        )
    wide = base.pivot(index="series_id", columns="horizon_step", values=column)
    wide = wide.reindex(index=S.index, columns=steps["horizon_step"])
    if wide.isna().any().any():
        raise InvalidInputError("Base forecasts lack some steps for some nodes, or are NaN.")
    return wide.to_numpy(float), steps


def _residual_matrix(residuals, S: pd.DataFrame, method: str) -> np.ndarray | None:
    if method != "mint_shrink":
        return None
    if residuals is None or residuals.empty:
        raise InvalidInputError("mint_shrink needs held-out residuals of the base model.")
    wide = residuals.pivot_table(index="series_id", columns="target_ts", values="residual")
    wide = wide.reindex(index=S.index)
    if wide.isna().all(axis=1).any():
        lacking = wide.index[wide.isna().all(axis=1)].tolist()
        raise InvalidInputError(f"No held-out residuals for node(s) {lacking[:3]}.")
    return wide.to_numpy(float)


def _projection(S: np.ndarray, y_hat: np.ndarray, method: str, residuals) -> np.ndarray:
    """The reconciled bottom forecasts (bottoms x steps)."""
    from hierarchicalforecast.methods import BottomUp, MinTrace

    if method == "bottom_up":
        reconciled = BottomUp().fit_predict(S=S, y_hat=y_hat)["mean"]
    else:
        reconciled = MinTrace(method="mint_shrink").fit_predict(
            S=S, y_hat=y_hat, y_insample=residuals, y_hat_insample=np.zeros_like(residuals)
        )["mean"]
    n_bottom = S.shape[1]
    return np.asarray(reconciled, dtype=float)[-n_bottom:]


def _long(steps: pd.DataFrame, nodes: pd.Index, values: np.ndarray) -> pd.DataFrame:
    n_nodes, n_steps = values.shape
    out = steps.loc[np.tile(np.arange(n_steps), n_nodes)].reset_index(drop=True)
    out.insert(0, "series_id", np.repeat(nodes.to_numpy(), n_steps))
    out["p50"] = values.reshape(-1)
    return out


def coherence_gap(forecasts: pd.DataFrame, dim: pd.DataFrame, column: str = "p50") -> float:
    """Largest |node - sum of its children| of `column` over every aggregate and period
    (0 for coherent forecasts). forecasts: series_id, target_ts, <column>."""
    values = forecasts.set_index(["series_id", "target_ts"])[column]
    children = dim.dropna(subset=["parent_id"])[["series_id", "parent_id"]]
    joined = forecasts[["series_id", "target_ts", column]].merge(children, on="series_id")
    sums = joined.groupby(["parent_id", "target_ts"])[column].sum()
    sums.index = sums.index.set_names(["series_id", "target_ts"])
    parents = values.reindex(sums.index)
    if parents.isna().any():
        raise InvalidInputError("Some aggregates with children have no forecast to compare.")
    return float((parents - sums).abs().max()) if len(sums) else 0.0
