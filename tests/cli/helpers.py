"""Run the real `warecast` command in a subprocess; build mart tables from the dbt contracts."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pyarrow as pa
import yaml

from orchestration.settings import DBT_PROJECT_DIR, PROFILES_DIR, REPO_ROOT
from orchestration.warehouse import Warehouse
from orchestration.warehouse.profiles import load_target
from tests.reliability.catalogue import RawBuilder
from tests.reliability.harness import (
    FORECAST_KEY,
    assert_published_intact,
    assert_same_rows,
    published_forecasts,
)

MARTS = DBT_PROJECT_DIR / "models" / "marts"
_ARROW = {
    "varchar": pa.string(),
    "double precision": pa.float64(),
    "integer": pa.int32(),
    "bigint": pa.int64(),
    "boolean": pa.bool_(),
    "timestamp": pa.timestamp("us"),
}


def warecast(*args: str, timeout: float = 300, **env: str) -> subprocess.CompletedProcess:
    """`python -m orchestration.cli ARGS` from the repository root, in this test's environment."""
    return subprocess.run(
        [sys.executable, "-m", "orchestration.cli", *args],
        capture_output=True,
        text=True,
        timeout=timeout,
        cwd=REPO_ROOT,
        env={**os.environ, **env},
    )


def client(target: str) -> Warehouse:
    return Warehouse.from_profile(load_target(PROFILES_DIR, target))


def contract_schema(model: str) -> pa.Schema:
    """The columns and types a dbt model's enforced contract declares."""
    for path in MARTS.rglob("*.yml"):
        for node in yaml.safe_load(path.read_text()).get("models", []):
            if node["name"] == model:
                return pa.schema([(c["name"], _ARROW[c["data_type"]]) for c in node["columns"]])
    raise AssertionError(f"no contract for {model} under {MARTS}")


def mart_table(model: str, rows: list[dict]) -> pa.Table:
    """Rows in the contract's exact shape (undeclared keys are an error, missing ones null)."""
    schema = contract_schema(model)
    extra = {key for row in rows for key in row} - set(schema.names)
    assert not extra, f"{model} declares no column(s) {extra}"
    return pa.Table.from_pylist([{n: row.get(n) for n in schema.names} for row in rows], schema)


def stderr_lines(result: subprocess.CompletedProcess | str) -> list[str]:
    """What a person reads: stderr without library warnings printed at import."""
    text = result if isinstance(result, str) else result.stderr
    lines = [line for line in text.splitlines() if line.strip()]
    return [
        line
        for line in lines
        if "Warning:" not in line and not line.lstrip().startswith("warnings.warn")
    ]


def log_path(result: subprocess.CompletedProcess) -> Path:
    """The log file the error message names."""
    for line in result.stderr.splitlines():
        if "Details: " in line:
            shown = line.split("Details: ", 1)[1].split(" (or re-run", 1)[0]
            path = Path(shown)
            return path if path.is_absolute() else REPO_ROOT / path
    raise AssertionError(f"no log file named in:\n{result.stderr}")


def publish_before(target: str) -> tuple[pa.Table, pa.Table]:
    """What a previous load and run left in `target`'s warehouse: (raw rows, published
    forecasts), 2 series x 60 months and the forecasts of 3 series."""
    warehouse = client(target)
    raw = RawBuilder()
    raw.series("before_0")
    raw.series("before_1", level=50.0)
    warehouse.replace_table("raw", "observations", raw.table())
    forecasts = published_forecasts()
    warehouse.replace_partitions("ml", "forecasts", forecasts, FORECAST_KEY)
    return raw.table(), forecasts


def assert_nothing_lost(target: str, raw: pa.Table, forecasts: pa.Table) -> None:
    """The raw rows and the published forecasts are as publish_before left them."""
    warehouse = client(target)
    assert_same_rows(warehouse.read_table("raw", "observations"), raw)
    assert_published_intact(warehouse, forecasts)
