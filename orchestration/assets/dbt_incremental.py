"""Incremental dbt builds or a full refresh: decided before each `dbt build`, from small reads.

The incremental models (dbt_project/macros/incremental.sql) process the raw rows loaded after
their watermark. That is only right while raw.observations has grown by appends since the last
build and the SQL that built the tables is unchanged. So a build refreshes fully when:
  - no build is recorded yet (ml.observation_builds),
  - the dbt vars, the incremental models' SQL or the project's macros changed,
  - a replace load is in the load log (raw.observation_loads) after the last build was decided,
  - raw.observations no longer holds the rows the last build saw (fewer or more rows at or before
    its newest loaded_at: the table was rewritten outside `warecast load --append`).
Otherwise it is incremental. Each successful build of every incremental model is recorded.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass
from datetime import datetime

import pyarrow as pa

from orchestration.dbt_models import RAW_SCHEMA, RAW_TABLE
from orchestration.settings import DBT_PROJECT_DIR
from orchestration.warehouse import Warehouse
from orchestration.warehouse.loads import utc_now

LOAD_LOG_TABLE, BUILD_LOG_TABLE = "observation_loads", "observation_builds"
EPOCH = datetime(1900, 1, 1)

_BUILD_SCHEMA = pa.schema(
    [
        ("built_at", pa.timestamp("us")),
        ("mode", pa.string()),
        ("watermark", pa.timestamp("us")),
        ("raw_rows", pa.int64()),
        ("code_hash", pa.string()),
    ]
)


@dataclass(frozen=True)
class BuildPlan:
    full_refresh: bool
    reason: str
    watermark: datetime  # newest raw loaded_at when the build started
    raw_rows: int  # raw rows at or before it
    code_hash: str
    decided_at: datetime  # before dbt starts: a replace load after it refreshes the next build

    @property
    def dbt_args(self) -> list[str]:
        return ["--full-refresh"] if self.full_refresh else []

    def as_row(self) -> pa.Table:
        row = {
            "built_at": self.decided_at,
            "mode": "full_refresh" if self.full_refresh else "incremental",
            "watermark": self.watermark,
            "raw_rows": self.raw_rows,
            "code_hash": self.code_hash,
        }
        return pa.Table.from_pylist([row], schema=_BUILD_SCHEMA)


def code_hash(dbt_vars: str, manifest: dict) -> str:
    """The vars, the incremental models' SQL checksums and the macros: what built the tables."""
    parts = [dbt_vars]
    for node in sorted(manifest["nodes"].values(), key=lambda n: n["unique_id"]):
        if node.get("config", {}).get("materialized") == "incremental":
            parts.append(f"{node['unique_id']}={node['checksum']['checksum']}")
    for path in sorted((DBT_PROJECT_DIR / "macros").rglob("*.sql")):
        parts.append(hashlib.sha256(path.read_bytes()).hexdigest())
    return hashlib.sha256("\n".join(parts).encode()).hexdigest()[:20]


def plan_build(client: Warehouse, dbt_vars: str, manifest: dict) -> BuildPlan:
    decided_at, current = utc_now(), code_hash(dbt_vars, manifest)
    total, newest = _raw_summary(client)

    def plan(full: bool, reason: str) -> BuildPlan:
        return BuildPlan(full, reason, newest or EPOCH, total, current, decided_at)

    if not client.table_exists(_build_schema(), BUILD_LOG_TABLE):
        return plan(True, "no earlier build is recorded")
    builds = client.read_table(_build_schema(), BUILD_LOG_TABLE).to_pylist()
    if not builds:
        return plan(True, "no earlier build is recorded")
    last = max(builds, key=lambda row: row["built_at"])
    if last["code_hash"] != current:
        return plan(True, "the dbt vars, incremental models or macros changed")
    if _replaced_since(client, last["built_at"]):
        return plan(True, "raw.observations was replaced since the last build")
    seen = _rows_until(client, last["watermark"])
    if seen != last["raw_rows"]:
        return plan(
            True,
            f"raw.observations holds {seen} rows loaded by {last['watermark']}, the last build "
            f"saw {last['raw_rows']}: it was rewritten, not appended to",
        )
    return plan(False, f"rows loaded after {last['watermark']}")


def incremental_models(manifest: dict) -> list[str]:
    return sorted(
        node["name"]
        for node in manifest["nodes"].values()
        if node.get("config", {}).get("materialized") == "incremental"
    )


def builds_every_incremental_model(manifest: dict, output_names) -> bool:
    """True when a (possibly subsetted) dbt step's outputs include every incremental model."""
    return all(
        any(output.endswith(f"__{model}") for output in output_names)
        for model in incremental_models(manifest)
    )


def _build_schema() -> str:
    """The build log lives in warecast's own schema (the forecast schema, `ml` by default): raw
    may belong to a loader that warecast only reads (docs/security.md)."""
    from orchestration.settings import load_pipeline

    return load_pipeline().forecast_schema


def record_build(client: Warehouse, plan: BuildPlan) -> None:
    client.replace_partitions(_build_schema(), BUILD_LOG_TABLE, plan.as_row(), ["built_at"])


def _raw_summary(client: Warehouse) -> tuple[int, datetime | None]:
    if not client.table_exists(RAW_SCHEMA, RAW_TABLE):
        return 0, None
    row = client.summarize(RAW_SCHEMA, RAW_TABLE, newest=["loaded_at"]).to_pylist()[0]
    return int(row["row_count"]), _as_datetime(row["loaded_at_newest"])


def _rows_until(client: Warehouse, watermark: datetime) -> int:
    return client.count_until(RAW_SCHEMA, RAW_TABLE, "loaded_at", _as_datetime(watermark))


def _replaced_since(client: Warehouse, built_at: datetime) -> bool:
    """A replace load logged after the last build was decided (log stamps are load times)."""
    if not client.table_exists(RAW_SCHEMA, LOAD_LOG_TABLE):
        return False
    loads = client.read_where(RAW_SCHEMA, LOAD_LOG_TABLE, {"mode": "replace"}).to_pylist()
    return any(_as_datetime(row["loaded_at"]) > _as_datetime(built_at) for row in loads)


def _as_datetime(value) -> datetime | None:
    if value is None:
        return None
    if hasattr(value, "to_pydatetime"):
        return value.to_pydatetime()
    return value


def manifest_json(path) -> dict:
    return json.loads(path.read_text())
