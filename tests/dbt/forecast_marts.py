"""Helpers for the forecast-mart tests: a scratch copy of the dbt project (so a test can put its
own seeds in it), dbt run as the CLI runs it, and the tables Dagster writes, written through the
warehouse client.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from datetime import datetime
from pathlib import Path

import pandas as pd
import pyarrow as pa

from orchestration.lineage import (
    FeatureDataVersion,
    ModelVersionHistory,
    VersionLineage,
    record_data_version,
)
from orchestration.settings import DBT_PROJECT_DIR, PROFILES_DIR
from orchestration.warehouse import Warehouse
from orchestration.warehouse.profiles import load_target

MODEL = "warecast_forecaster"
OVERRIDE_COLUMNS = [
    "override_id",
    "series_id",
    "target_ts_from",
    "target_ts_to",
    "value",
    "multiplier",
    "reason",
    "author",
    "created_at",
]
MONTHLY = {"grain": "month", "season_length": 12, "short_window": 3}


def copy_project(tmp_path: Path, overrides: list[dict] | None = None) -> Path:
    """The dbt project without its build output, with `overrides` as the seed's rows."""
    project = tmp_path / "dbt_project"
    ignore = shutil.ignore_patterns("target", "logs", "dbt_packages")
    shutil.copytree(DBT_PROJECT_DIR, project, ignore=ignore)
    frame = pd.DataFrame(overrides or [], columns=OVERRIDE_COLUMNS)
    frame.to_csv(project / "seeds" / "forecast_overrides.csv", index=False)
    return project


def run_dbt(project: Path, *args: str, check: bool = True) -> subprocess.CompletedProcess:
    """`dbt <args>` on the duckdb target of WARECAST_HOME, as the Dagster asset runs it."""
    dbt = Path(sys.executable).with_name("dbt")
    command = [str(dbt), *args, "--profiles-dir", str(PROFILES_DIR), "--target", "duckdb"]
    command += ["--vars", json.dumps(MONTHLY)]
    command += ["--target-path", str(project / "target"), "--log-path", str(project / "logs")]
    done = subprocess.run(
        command, cwd=project, env=dict(os.environ), capture_output=True, text=True, timeout=600
    )
    if check:
        assert done.returncode == 0, done.stdout[-6000:] + done.stderr[-2000:]
    return done


def client() -> Warehouse:
    return Warehouse.from_profile(load_target(PROFILES_DIR, "duckdb"))


def write_raw(warehouse: Warehouse, values: dict[str, list[float]], start: str) -> None:
    """Monthly observations from `start`, one list of values per series."""
    frames = [
        pd.DataFrame(
            {
                "series_id": series,
                "ts": pd.date_range(start, periods=len(series_values), freq="MS"),
                "value": series_values,
            }
        )
        for series, series_values in values.items()
    ]
    raw = pd.concat(frames, ignore_index=True)
    raw["loaded_at"] = pd.Timestamp("2026-01-01")
    warehouse.replace_table("raw", "observations", pa.Table.from_pandas(raw, preserve_index=False))


def forecast_frame(bands: dict[str, list[tuple[float, float, float]]], origin: str, version: str):
    """ml.forecasts rows: per series, (p10, p50, p90) for steps 1.. after the monthly origin."""
    rows = []
    for series, steps in bands.items():
        for step, (p10, p50, p90) in enumerate(steps, start=1):
            rows.append(
                {
                    "series_id": series,
                    "forecast_origin": pd.Timestamp(origin),
                    "target_ts": pd.Timestamp(origin) + pd.DateOffset(months=step),
                    "horizon_step": step,
                    "p10": p10,
                    "p50": p50,
                    "p90": p90,
                    "method": "auto_ets",
                    "model_name": MODEL,
                    "model_version": version,
                    "mlflow_run_id": f"mlflow-run-v{version}",
                    "created_at": pd.Timestamp("2026-01-01") + pd.Timedelta(days=int(version)),
                    "dagster_run_id": f"dagster-run-v{version}",
                    "feature_data_version": "data-v1",
                }
            )
    return pd.DataFrame(rows)


def write_forecasts(warehouse: Warehouse, frame: pd.DataFrame) -> None:
    """As ml/forecasts writes them: the rows of each (model, origin) replaced atomically."""
    table = pa.Table.from_pandas(frame, preserve_index=False)
    warehouse.replace_partitions("ml", "forecasts", table, ["model_name", "forecast_origin"])


def write_lineage(warehouse: Warehouse, version: str) -> None:
    """The lineage tables ml/trained_model writes for a registered, promoted version."""
    data = FeatureDataVersion("marts.fct_training_features", 1, 1, None, None, "hash", "dbt")
    record_data_version(warehouse, "ml", data)
    lineage = VersionLineage(
        mlflow_run_id=f"mlflow-run-v{version}",
        trained_at=datetime(2026, 1, 1),
        train_end=datetime(2018, 12, 1),
        feature_table="marts.fct_training_features",
        feature_data_version=data.data_version,
        dbt_checksum="dbt",
        git_commit="test",
        dagster_run_id=f"dagster-run-v{version}",
        backtest_metric_name="mase",
        backtest_metric=1.0,
    )
    history = ModelVersionHistory(warehouse, "ml")
    history.record(MODEL, version, "registered", "test", lineage)
    history.record(MODEL, version, "promoted", "test", lineage)
