"""Data versions and model-version history: what ties a forecast row to its model and data.

The feature mart's fingerprint is computed inside the warehouse (dbt model
marts.fct_feature_fingerprint); here it is only read whole and combined with the dbt model's
code checksum into the data version Dagster records for the feature asset.
"""

import hashlib
import subprocess
from dataclasses import asdict, dataclass
from datetime import UTC, datetime

import dagster as dg
import pyarrow as pa

from orchestration.settings import REPO_ROOT
from orchestration.warehouse import Warehouse
from orchestration.warehouse.loads import utc_now

LINEAGE_SCHEMA_DEFAULT = "ml"
HISTORY_TABLE = "model_version_history"
DATA_VERSIONS_TABLE = "feature_data_versions"
EVENTS = ("registered", "promoted", "rolled_back")


@dataclass(frozen=True)
class FeatureDataVersion:
    """The fingerprint of one feature table plus the dbt code that built it."""

    feature_table: str
    row_count: int
    series_count: int
    min_ts: datetime | None
    max_ts: datetime | None
    content_hash: str
    dbt_checksum: str

    @property
    def data_version(self) -> str:
        parts = [
            self.feature_table,
            str(self.row_count),
            str(self.min_ts),
            str(self.max_ts),
            self.content_hash,
            self.dbt_checksum,
        ]
        return hashlib.sha256("|".join(parts).encode()).hexdigest()[:20]

    def as_row(self) -> dict:
        return {"data_version": self.data_version, **asdict(self), "recorded_at": utc_now()}


def read_fingerprint(
    client: Warehouse, fingerprint_relation: tuple[str, str], feature_table: str, dbt_checksum: str
) -> FeatureDataVersion:
    """Read the one-row fingerprint view dbt built (the hash itself runs in the warehouse)."""
    rows = client.read_table(*fingerprint_relation).to_pylist()
    if len(rows) != 1:
        raise ValueError(
            f"{'.'.join(fingerprint_relation)} has {len(rows)} rows, expected 1: "
            "rebuild it with `dbt build --select fct_feature_fingerprint`."
        )
    row = rows[0]
    return FeatureDataVersion(
        feature_table=feature_table,
        row_count=int(row["row_count"]),
        series_count=int(row["series_count"] or 0),
        min_ts=row["min_ts"],
        max_ts=row["max_ts"],
        content_hash=str(row["content_hash"]),
        dbt_checksum=dbt_checksum,
    )


def record_data_version(client: Warehouse, schema: str, version: FeatureDataVersion) -> None:
    """Idempotent: a data version is recorded once (re-recording rewrites the same row)."""
    table = pa.Table.from_pylist([version.as_row()], schema=_DATA_VERSION_SCHEMA)
    client.replace_partitions(schema, DATA_VERSIONS_TABLE, table, ["data_version"])


_DATA_VERSION_SCHEMA = pa.schema(
    [
        ("data_version", pa.string()),
        ("feature_table", pa.string()),
        ("row_count", pa.int64()),
        ("series_count", pa.int64()),
        ("min_ts", pa.timestamp("us")),
        ("max_ts", pa.timestamp("us")),
        ("content_hash", pa.string()),
        ("dbt_checksum", pa.string()),
        ("recorded_at", pa.timestamp("us")),
    ]
)


@dataclass(frozen=True)
class VersionLineage:
    """What a model version was trained on; repeated on every history row of the version."""

    mlflow_run_id: str
    trained_at: datetime
    train_end: datetime | None
    feature_table: str
    feature_data_version: str
    dbt_checksum: str
    git_commit: str
    dagster_run_id: str
    backtest_metric_name: str
    backtest_metric: float | None

    def as_tags(self) -> dict[str, str]:
        return {k: "" if v is None else str(v) for k, v in asdict(self).items()}

    @classmethod
    def from_tags(cls, tags: dict[str, str]) -> "VersionLineage":
        def ts(value: str | None) -> datetime | None:
            return datetime.fromisoformat(value) if value else None

        metric = tags.get("backtest_metric")
        return cls(
            mlflow_run_id=tags.get("mlflow_run_id", ""),
            trained_at=ts(tags.get("trained_at")) or utc_now(),
            train_end=ts(tags.get("train_end")),
            feature_table=tags.get("feature_table", ""),
            feature_data_version=tags.get("feature_data_version", ""),
            dbt_checksum=tags.get("dbt_checksum", ""),
            git_commit=tags.get("git_commit", ""),
            dagster_run_id=tags.get("dagster_run_id", ""),
            backtest_metric_name=tags.get("backtest_metric_name", ""),
            backtest_metric=float(metric) if metric else None,
        )


_HISTORY_SCHEMA = pa.schema(
    [
        ("model_name", pa.string()),
        ("model_version", pa.string()),
        ("event", pa.string()),
        ("event_at", pa.timestamp("us")),
        ("reason", pa.string()),
        ("mlflow_run_id", pa.string()),
        ("trained_at", pa.timestamp("us")),
        ("train_end", pa.timestamp("us")),
        ("feature_table", pa.string()),
        ("feature_data_version", pa.string()),
        ("dbt_checksum", pa.string()),
        ("git_commit", pa.string()),
        ("dagster_run_id", pa.string()),
        ("backtest_metric_name", pa.string()),
        ("backtest_metric", pa.float64()),
    ]
)


@dataclass(frozen=True)
class ModelVersionHistory:
    """Append-only ml.model_version_history: registered / promoted / rolled_back events."""

    client: Warehouse
    schema: str = LINEAGE_SCHEMA_DEFAULT

    def record(
        self, model_name: str, version: str, event: str, reason: str, lineage: VersionLineage
    ) -> None:
        if event not in EVENTS:
            raise ValueError(f"Unknown model-version event {event!r}; use one of {EVENTS}.")
        row = {
            "model_name": model_name,
            "model_version": str(version),
            "event": event,
            "event_at": utc_now(),
            "reason": reason,
            **asdict(lineage),
        }
        table = pa.Table.from_pylist([row], schema=_HISTORY_SCHEMA)
        # The partition is the event itself, so this appends one row atomically.
        self.client.replace_partitions(
            self.schema, HISTORY_TABLE, table, ["model_name", "model_version", "event", "event_at"]
        )

    def read(self) -> pa.Table:
        return self.client.read_table(self.schema, HISTORY_TABLE)


def git_commit() -> str:
    """The checkout's commit (with '-dirty' when it has local changes), or 'unknown'."""
    try:
        head = _git("rev-parse", "HEAD")
        dirty = _git("status", "--porcelain", "--untracked-files=no")
    except (OSError, subprocess.CalledProcessError):
        return "unknown"
    return head + ("-dirty" if dirty else "")


def _git(*args: str) -> str:
    out = subprocess.run(
        ["git", *args], cwd=REPO_ROOT, capture_output=True, text=True, check=True, timeout=10
    )
    return out.stdout.strip()


def _stale_resolver(instance: dg.DagsterInstance, defs: dg.Definitions):
    from dagster._core.asset_graph_view.asset_graph_view import AssetGraphView
    from dagster._core.definitions.data_version import CachingStaleStatusResolver
    from dagster._core.definitions.temporal_context import TemporalContext

    graph = defs.resolve_asset_graph()
    view = AssetGraphView(
        temporal_context=TemporalContext(effective_dt=datetime.now(UTC), last_event_id=None),
        instance=instance,
        asset_graph=graph,
    )
    return CachingStaleStatusResolver(instance, graph, loading_context=view)


def stale_status(instance: dg.DagsterInstance, defs: dg.Definitions, key: dg.AssetKey) -> str:
    """Dagster's own staleness verdict for `key`: 'FRESH', 'STALE' or 'MISSING'."""
    return _stale_resolver(instance, defs).get_status(key).name


def stale_causes(instance: dg.DagsterInstance, defs: dg.Definitions, key: dg.AssetKey) -> list:
    """Why Dagster considers `key` stale, as readable strings (what the UI shows)."""
    causes = _stale_resolver(instance, defs).get_stale_causes(key)
    return [
        f"{c.reason}: {c.dependency.asset_key.to_user_string()}" if c.dependency else c.reason
        for c in causes
    ]
