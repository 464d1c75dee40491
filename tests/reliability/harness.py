"""Run the real Dagster job in-process on a chosen warehouse, with a small test pipeline.

The `reliability` pipeline is the monthly demo set-up with the tiny model, horizon 6 and
min_value 0 (so negative values are impossible), registered by patching the pipelines file read.
"""

from __future__ import annotations

import datetime as dt
import json
import os
import subprocess
import sys
from pathlib import Path

import dagster as dg
import pandas as pd
import pyarrow as pa
import yaml

from orchestration import settings
from orchestration.settings import DBT_PROJECT_DIR, PROFILES_DIR

HORIZON = 6
MODEL_NAME = "warecast_forecaster"
PIPELINE = {
    "dataset": "current",
    "freq": "MS",
    "horizon": HORIZON,
    "season_length": 12,
    # The backtest still runs for real; its only candidate, the tiny TFT, is the champion.
    "models": [{"name": "tft", "preset": "tiny"}],
    "backtest": {"cutoffs": 1},
    "dbt_vars": {
        "grain": "month",
        "fill_strategy": "forward_fill",
        "season_length": 12,
        "short_window": 3,
        "min_value": 0,
    },
}
FORECAST_KEY = ["series_id", "model_name", "forecast_origin"]
PUBLISHED_ORIGIN = dt.datetime(2010, 1, 1)


def use_reliability_pipeline(monkeypatch) -> None:
    real = settings._pipelines()
    monkeypatch.setattr(settings, "_pipelines", lambda: {**real, "reliability": PIPELINE})
    monkeypatch.setenv("WARECAST_PIPELINE", "reliability")


def register_reliability_pipeline() -> None:
    """The same, for a driver process (tests/reliability/driver.py)."""
    real = settings._pipelines()
    settings._pipelines = lambda: {**real, "reliability": PIPELINE}
    os.environ["WARECAST_PIPELINE"] = "reliability"


LATEST_MART = dg.AssetKey(["marts", "fct_forecasts_latest"])
ISSUES_VIEW = dg.AssetKey(["marts", "fct_observation_issues"])


def core_selection(defs: dg.Definitions) -> list[dg.AssetKey]:
    """raw -> dbt features -> trained model -> forecasts -> the latest-forecast mart (+ issues)."""
    selection = dg.AssetSelection.keys(LATEST_MART).upstream() | dg.AssetSelection.keys(ISSUES_VIEW)
    return sorted(selection.resolve(defs.resolve_asset_graph()), key=str)


def run_job(defs: dg.Definitions, raw: dict | None = None, selection=None, instance=None):
    """One in-process run; by default of `core_selection` (the assets a forecast needs)."""
    selection = core_selection(defs) if selection is None else selection
    run_config = {
        "ops": {
            "raw__observations": {"config": raw or {"dataset": "current"}},
            "ml__trained_model": {"config": {"progress_bar": False}},
        }
    }
    run_config["ops"] = {
        op: cfg
        for op, cfg in run_config["ops"].items()
        if dg.AssetKey(op.split("__")) in set(selection)
    }
    job = defs.resolve_job_def("forecast_pipeline")
    return job.execute_in_process(
        run_config=run_config,
        instance=instance or dg.DagsterInstance.ephemeral(),
        asset_selection=selection,
        raise_on_error=False,
    )


def failure_messages(result) -> str:
    messages = []
    for event in result.all_events:
        if event.is_step_failure and event.step_failure_data:
            error = event.step_failure_data.error
            messages.append((error.cause or error).message)
    return "\n".join(messages)


def published_forecasts(n_series: int = 3, version: str = "0") -> pa.Table:
    """Forecasts 'a previous run published', in the real ml.forecasts shape."""
    rows = []
    for s in range(n_series):
        for step in range(1, HORIZON + 1):
            rows.append(
                {
                    "series_id": f"published_{s}",
                    "forecast_origin": PUBLISHED_ORIGIN,
                    "target_ts": PUBLISHED_ORIGIN + pd.DateOffset(months=step),
                    "horizon_step": step,
                    "p10": 1.0 * s,
                    "p50": 2.0 * s,
                    "p90": 3.0 * s + step,
                    "method": "tft",
                    "model_name": MODEL_NAME,
                    "model_version": version,
                    "mlflow_run_id": f"run-{version}",
                    "created_at": dt.datetime(2010, 1, 2),
                    "dagster_run_id": f"dagster-{version}",
                }
            )
    frame = pd.DataFrame(rows)
    for extra in _declared_forecast_columns() - set(frame.columns):
        frame[extra] = f"{extra}-{version}"  # lineage columns added later are all text
    frame["target_ts"] = pd.to_datetime(frame["target_ts"])
    frame["horizon_step"] = frame["horizon_step"].astype("int64")
    return pa.Table.from_pandas(frame, preserve_index=False)


def publish_real_forecasts(defs: dg.Definitions, client) -> pa.Table:
    """Run the pipeline once on two clean series; return the forecasts it published."""
    from tests.reliability.catalogue import RawBuilder

    raw = RawBuilder()
    for i in range(2):
        raw.series(f"published_{i}", level=30.0 + i)
    client.replace_table("raw", "observations", raw.table())
    result = run_job(defs)
    assert result.success, failure_messages(result)
    return client.read_table("ml", "forecasts")


def _declared_forecast_columns() -> set[str]:
    """The columns the dbt source ml.forecasts declares: the shape the pipeline writes."""
    path = settings.DBT_PROJECT_DIR / "models" / "marts" / "forecasts" / "_ml__sources.yml"
    for source in yaml.safe_load(path.read_text())["sources"]:
        for table in source["tables"]:
            if table["name"] == "forecasts":
                return {column["name"] for column in table["columns"]}
    raise AssertionError(f"{path} declares no forecasts table")


def sorted_frame(table: pa.Table) -> pd.DataFrame:
    frame = table.to_pandas()
    return frame.sort_values(sorted(frame.columns)).reset_index(drop=True)


def assert_published_intact(client, published: pa.Table) -> None:
    """The previously published rows are all there, unchanged, and queryable."""
    current = client.read_table("ml", "forecasts").to_pandas()
    mine = current[current["series_id"].str.startswith("published_")]
    expected = sorted_frame(published)
    got = mine[expected.columns].sort_values(sorted(expected.columns)).reset_index(drop=True)
    pd.testing.assert_frame_equal(got, expected, check_dtype=False)


def assert_same_rows(got: pa.Table, expected: pa.Table) -> None:
    """Exactly the same rows (any order; timestamp units may differ by warehouse)."""
    want = sorted_frame(expected)
    have = sorted_frame(got.select(want.columns.tolist()))
    assert got.num_rows == expected.num_rows
    pd.testing.assert_frame_equal(have, want, check_dtype=False)


def run_dbt(
    tmp_path: Path, *args: str, dbt_vars: dict, target_path: Path | None = None
) -> subprocess.CompletedProcess:
    """The dbt CLI on the project with `dbt_vars`, its target (unless `target_path` names one)
    and log folders under tmp_path."""
    dbt = Path(sys.executable).with_name("dbt")
    return subprocess.run(
        [
            str(dbt),
            *args,
            "--project-dir",
            str(DBT_PROJECT_DIR),
            "--profiles-dir",
            str(PROFILES_DIR),
            "--target-path",
            str(target_path or tmp_path / "target"),
            "--log-path",
            str(tmp_path / "logs"),
            "--vars",
            json.dumps(dbt_vars),
        ],
        capture_output=True,
        text=True,
        timeout=180,
    )
