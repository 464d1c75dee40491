"""The dbt models Python reads or writes beside, by name, and where dbt's manifest puts them.

No dagster here, and nothing runs at import: the CLI, checks, plots and the assets all import
their model names from this module. The manifest (dbt_project/target/manifest.json) is prepared
when it is first needed: `prepared_manifest()` runs `dbt parse` once a process if the manifest is
missing, older than a dbt file, or `dagster dev` is running (a fresh clone has no manifest;
loading orchestration.definitions prepares it through orchestration/assets/dbt.py).
"""

from __future__ import annotations

import fcntl
import functools
import hashlib
import json
import os
import re
import shutil
import subprocess
import sys
import uuid
from pathlib import Path

from orchestration.settings import (
    DBT_PROJECT_DIR,
    PROFILES_DIR,
    current_target,
    load_pipeline,
    warecast_home,
)

# Every layer's schema is named exactly (macros/generate_schema_name.sql): the marts are in
# `marts`. Read-only CLI commands use this instead of the manifest, so they never parse.
MARTS_SCHEMA = "marts"

# The raw source (dbt_project/models/staging/raw/_raw__sources.yml), written by Dagster's raw
# asset; its Dagster group also holds the dbt seeds (analysts' inputs kept in git).
RAW_SCHEMA, RAW_TABLE = "raw", "observations"
RAW_GROUP = "raw"

# marts/features (the fingerprint too: ml/trained_model reads it, so it sits upstream of ml)
FEATURES_MODEL = "fct_training_features"
FINGERPRINT_MODEL = "fct_feature_fingerprint"
BLOCK_HASHES_MODEL = "fct_feature_block_hashes"  # per-series content hashes, when built
SERIES_MODEL = "dim_series"
# marts/forecasts, marts/evaluation, marts/lineage
LATEST_MODEL = "fct_forecasts_latest"
VERSUS_MODEL = "fct_forecast_vs_actual"
LEADERBOARD_MODEL = "fct_model_leaderboard"
MODEL_VERSIONS_MODEL = "dim_model_versions"
# marts/monitoring
ANOMALIES_MODEL = "fct_forecast_anomalies"
# marts/hierarchy (the inputs of ml/hierarchical_forecasts; its leaderboard is in marts/evaluation)
HIERARCHY_SERIES_MODEL = "fct_hierarchy_series"
HIERARCHY_DIM_MODEL = "dim_hierarchy"

TARGET_PATH = DBT_PROJECT_DIR / "target"
PARTIAL_PARSE = "partial_parse.msgpack"


def manifest_path() -> Path:
    """Where `dbt parse` writes the manifest (it may not exist yet)."""
    return TARGET_PATH / "manifest.json"


def mart_relation(model_name: str) -> tuple[str, str]:
    """(marts, model_name) without reading the manifest: for read-only commands."""
    return MARTS_SCHEMA, model_name


def dbt_executable() -> str:
    # The venv's dbt, whatever PATH says (Dagster runs start from various environments).
    candidate = Path(sys.executable).with_name("dbt")
    return str(candidate) if candidate.exists() else "dbt"


def dbt_vars() -> str:
    """The --vars of every dbt invocation: the pipeline's grain settings and forecast schema."""
    pipeline = load_pipeline()
    return json.dumps({**pipeline.dbt_vars, "forecast_schema": pipeline.forecast_schema})


def parse_state() -> str:
    """A hash of what dbt's partial parsing compares (vars, target, the profile's connection
    settings; the profile's environment holds secrets): a dbt command run with other ones than
    its partial parse was made with parses the whole project again, ~3 s more each here."""
    profile = (PROFILES_DIR / "profiles.yml").read_text()
    names = sorted(set(re.findall(r"env_var\(\s*['\"](\w+)['\"]", profile)))
    state = {
        "vars": dbt_vars(),
        "target": current_target(),
        "env": {name: os.environ.get(name) for name in names},
    }
    return hashlib.sha256(json.dumps(state, sort_keys=True).encode()).hexdigest()


def step_target_path(step: str) -> Path:
    """A new target folder for one dbt command, seeded with the partial parse the last command
    of the same parse_state() left (dagster-dbt seeds it from dbt_project/target otherwise, made
    by whichever parse ran last: a whole parse again, ~3 s of every dbt step here)."""
    path = TARGET_PATH / f"{step}-{uuid.uuid4().hex[:12]}"
    path.mkdir(parents=True)
    saved = _saved_partial_parse()
    if saved.exists():
        shutil.copy(saved, path / PARTIAL_PARSE)
    return path


def keep_partial_parse(path: Path, remove: bool = True) -> None:
    """After a dbt command in `path` (step_target_path): its partial parse, which matches the
    current parse_state(), kept for the next command; then the folder goes unless `remove` is
    off (dagster-dbt has read it by then; one per dbt step of every run, ~4.5 MB each)."""
    produced = path / PARTIAL_PARSE
    if produced.exists():
        saved = _saved_partial_parse()
        saved.parent.mkdir(parents=True, exist_ok=True)
        staged = saved.with_suffix(f".{uuid.uuid4().hex}.tmp")
        shutil.copy(produced, staged)
        staged.replace(saved)  # atomic: a concurrent step reads the old file or the new one
    if remove:
        shutil.rmtree(path, ignore_errors=True)


def _saved_partial_parse() -> Path:
    # Beside the warehouse it parsed for: a profile names one DuckDB file or server.
    return warecast_home() / "dbt_partial_parse" / f"{parse_state()}.msgpack"


def _manifest_is_stale(path: Path) -> bool:
    if not path.exists():
        return True
    built = path.stat().st_mtime
    sources = [DBT_PROJECT_DIR / "dbt_project.yml", PROFILES_DIR / "profiles.yml"]
    for folder in ("models", "macros", "tests"):
        sources.extend((DBT_PROJECT_DIR / folder).rglob("*"))
    return any(source.is_file() and source.stat().st_mtime > built for source in sources)


def _using_dagster_dev() -> bool:
    # What dagster_dbt's preparer checks: `dagster dev` sets it, and wants a fresh parse.
    return bool(os.getenv("DAGSTER_IS_DEV_CLI"))


def parse_manifest() -> None:
    """`dbt parse` of the project for the current target, into dbt_project/target. Not again
    for another home or pipeline (a process may read the manifest meanwhile): the dbt steps
    keep their own partial parse for those (step_target_path)."""
    env = {
        **os.environ,
        "DBT_SEND_ANONYMOUS_USAGE_STATS": "false",
        "DBT_TARGET_PATH": str(TARGET_PATH),
        "DBT_LOG_PATH": str(TARGET_PATH),
        "DBT_PROFILES_DIR": str(PROFILES_DIR),
        "DBT_PROJECT_DIR": str(DBT_PROJECT_DIR),
    }
    command = [dbt_executable(), "parse", "--quiet", "--target", current_target()]
    done = subprocess.run(
        command, cwd=DBT_PROJECT_DIR, env=env, capture_output=True, text=True, check=False
    )
    if done.returncode != 0:
        output = (done.stdout + done.stderr).strip()[-4000:]
        raise RuntimeError(f"`dbt parse` failed (exit code {done.returncode}):\n{output}")


@functools.cache
def prepared_manifest() -> Path:
    """The manifest's path, after a `dbt parse` when it is missing or stale (once a process)."""
    path = manifest_path()
    TARGET_PATH.mkdir(parents=True, exist_ok=True)
    # Two processes (the CLI beside `dagster dev`, two test workers) must not write the manifest
    # at once or read it half-written: one parses while the other waits, then finds it fresh.
    with (TARGET_PATH / "parse.lock").open("w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        if _using_dagster_dev() or _manifest_is_stale(path):
            parse_manifest()
    return path


@functools.lru_cache(maxsize=2)
def _model_nodes(path: Path, modified_ns: int) -> dict[str, dict]:
    # Keyed on the file's mtime: a re-parse is seen, and a run does not re-read ~MBs of JSON
    # for every table it names (it did, ~2.4 s a forecasts run).
    manifest = json.loads(path.read_text())
    return {
        node["name"]: node
        for node in manifest["nodes"].values()
        if node["resource_type"] == "model"
    }


def find_model_node(model_name: str, *, parse: bool = True) -> dict | None:
    """The model's manifest node, or None. parse=False reads the manifest as it is (None if
    there is none), for read-only commands that must not run dbt."""
    path = prepared_manifest() if parse else manifest_path()
    if not path.exists():
        return None
    return _model_nodes(path, path.stat().st_mtime_ns).get(model_name)


def _manifest_node(model_name: str) -> dict:
    node = find_model_node(model_name)
    if node is None:
        raise KeyError(f"dbt model {model_name!r} is not in the manifest; run `dbt parse`.")
    return node


def node_relation(node: dict) -> tuple[str, str]:
    """(schema, table) of a manifest node."""
    return node["schema"], node.get("alias") or node["name"]


def relation_of(model_name: str) -> tuple[str, str]:
    """(schema, table) dbt materializes `model_name` into, from the manifest."""
    return node_relation(_manifest_node(model_name))


def dbt_checksum(model_name: str) -> str:
    """The checksum dbt keeps of the model's SQL (also its Dagster code version)."""
    return _manifest_node(model_name)["checksum"]["checksum"]
