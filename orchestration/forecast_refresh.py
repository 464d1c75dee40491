"""Day N: which series need new forecasts, and the record that says what each was forecast from.

A series is refreshed when its features changed since its forecast rows were written, or when
the champion's version is not the one that wrote them. "Changed" compares, with what was stored
at the last write in <forecast_schema>.forecast_series_state (one row per series and model):
- the series' content hash: its block hashes from dbt's marts.fct_feature_block_hashes (an
  order-independent hash of every feature row, per block of periods), combined here; any
  changed feature value changes it;
- and what orchestration/batched_reads.series_summary reads in one aggregate query (row count,
  last ts, sum of values): the rule on its own where the block hashes are not built, which
  misses only a correction that leaves all three unchanged (to 1e-9 relative).
A new period, a new series and a late correction are all seen. Every other series keeps its
forecast rows and their lineage.
"""

from __future__ import annotations

import hashlib

import numpy as np
import pandas as pd
import pyarrow as pa

from orchestration.checks import CheckOutcome
from orchestration.warehouse.base import Warehouse

STATE_TABLE = "forecast_series_state"
STATE_KEY = ["series_id", "model_name"]
STATE_SCHEMA = pa.schema(
    [
        ("series_id", pa.string()),
        ("model_name", pa.string()),
        ("model_version", pa.string()),
        ("last_ts", pa.timestamp("us")),
        ("n_rows", pa.int64()),
        ("value_sum", pa.float64()),
        ("content_hash", pa.string()),
        ("dagster_run_id", pa.string()),
        ("created_at", pa.timestamp("us")),
    ]
)
# Sums of the same values can differ in their last bits between reads (parallel aggregation).
VALUE_SUM_RTOL = 1e-9


def series_hashes(client: Warehouse, relation: tuple[str, str] | None) -> pd.Series | None:
    """content hash per series_id from the block hashes table; None when it is not built."""
    if relation is None or not client.table_exists(*relation):
        return None
    blocks = client.read_where(*relation, {}, ["series_id", "block_id", "content_hash"])
    frame = blocks.to_pandas().rename(columns=str.lower)
    frame = frame.sort_values(["series_id", "block_id"], kind="stable")
    text = frame["block_id"].astype(str) + ":" + frame["content_hash"].astype(str) + ";"
    return text.groupby(frame["series_id"].astype(str)).agg(
        lambda parts: hashlib.sha256("".join(parts).encode()).hexdigest()
    )


def with_hashes(summary: pd.DataFrame, hashes: pd.Series | None) -> pd.DataFrame:
    out = summary.copy()
    out["content_hash"] = None if hashes is None else out["series_id"].map(hashes)
    return out


def read_state(client: Warehouse, schema: str, model_name: str) -> pd.DataFrame:
    """The stored state of `model_name`'s series; empty before the first write."""
    if not client.table_exists(schema, STATE_TABLE):
        return pd.DataFrame(columns=STATE_SCHEMA.names)
    state = client.read_where(schema, STATE_TABLE, {"model_name": model_name}).to_pandas()
    state.columns = [c.lower() for c in state.columns]
    return state


def changed_series(summary: pd.DataFrame, state: pd.DataFrame, model_version: str) -> set[str]:
    """Series of `summary` (series_summary's frame) to forecast again."""
    if "content_hash" not in state.columns:  # written before the hashes were kept
        state = state.assign(content_hash=None)
    if "content_hash" not in summary.columns:
        summary = summary.assign(content_hash=None)
    then = state[["series_id", "model_version", "last_ts", "n_rows", "value_sum", "content_hash"]]
    then = then.rename(columns=lambda c: c if c == "series_id" else f"{c}_then")
    merged = summary.merge(then, on="series_id", how="left")
    then_ts = pd.to_datetime(merged["last_ts_then"])
    same_sum = np.isclose(
        merged["value_sum"].astype("float64"),
        merged["value_sum_then"].astype("float64"),
        rtol=VALUE_SUM_RTOL,
        atol=0.0,
        equal_nan=True,
    )
    stale = (
        merged["model_version_then"].isna()
        | (merged["model_version_then"].astype(str) != str(model_version))
        | (then_ts != merged["last_ts"])
        | (merged["n_rows_then"].astype("float64") != merged["n_rows"].astype("float64"))
        | ~same_sum
        | (
            merged["content_hash"].notna()
            & (merged["content_hash"].astype(str) != merged["content_hash_then"].astype(str))
        )
    )
    return set(merged.loc[stale, "series_id"])


def state_table(
    summary: pd.DataFrame, series: set[str], model_name: str, model_version: str, ids: dict
) -> pa.Table:
    rows = summary[summary["series_id"].isin(series)].copy()
    rows["model_name"], rows["model_version"] = model_name, str(model_version)
    rows["dagster_run_id"], rows["created_at"] = ids["dagster_run_id"], ids["created_at"]
    return pa.Table.from_pandas(rows[STATE_SCHEMA.names], schema=STATE_SCHEMA, preserve_index=False)


def write_state(client: Warehouse, schema: str, table: pa.Table) -> int:
    return client.replace_partitions(schema, STATE_TABLE, table, STATE_KEY)


def merge_outcomes(per_batch: list[list[CheckOutcome]]) -> list[CheckOutcome]:
    """One outcome per check over all batches: passed when every batch passed."""
    merged = []
    for outcomes in zip(*per_batch, strict=True):
        failed = [o.detail for o in outcomes if not o.passed]
        first = outcomes[0]
        merged.append(
            CheckOutcome(
                first.name,
                not failed,
                first.description,
                "; ".join(failed) if failed else first.detail,
            )
        )
    return merged
