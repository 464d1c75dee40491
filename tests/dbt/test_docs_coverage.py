"""`make docs` shows BI users a described column for every column of every mart, and the BI
consumers (exposures) of the forecast marts.

Read from the manifest `dbt parse` writes: the columns a mart's .yml declares. For a mart with an
enforced contract those are exactly the columns it returns (dbt fails the build otherwise); a
mart whose columns follow configuration (e.g. the hierarchy levels) cannot have one, so this test
cannot see a column its .yml forgets.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from orchestration.settings import DBT_PROJECT_DIR, PROFILES_DIR

FORECAST_MARTS = {
    "fct_forecasts_published",
    "fct_forecasts_latest",
    "fct_forecast_vs_actual",
    "fct_forecast_anomalies",
    "fct_model_leaderboard",
}


@pytest.fixture(scope="module")
def manifest(tmp_path_factory) -> dict:
    target = tmp_path_factory.mktemp("docs_manifest")
    dbt = Path(sys.executable).with_name("dbt")
    command = [str(dbt), "parse", "--profiles-dir", str(PROFILES_DIR), "--target", "duckdb"]
    command += ["--target-path", str(target), "--log-path", str(target / "logs")]
    env = dict(os.environ, WARECAST_HOME=str(target / "home"))
    done = subprocess.run(command, cwd=DBT_PROJECT_DIR, env=env, capture_output=True, text=True)
    assert done.returncode == 0, done.stdout[-4000:] + done.stderr[-2000:]
    return json.loads((target / "manifest.json").read_text())


def _marts(manifest: dict) -> list[dict]:
    nodes = manifest["nodes"].values()
    return [
        n
        for n in nodes
        if n["resource_type"] == "model" and n["original_file_path"].startswith("models/marts/")
    ]


def test_every_mart_and_every_mart_column_is_described(manifest):
    marts = _marts(manifest)
    assert {m["name"] for m in marts} >= FORECAST_MARTS
    problems = []
    for mart in marts:
        where = f"{mart['name']} ({mart['patch_path'] or mart['original_file_path']})"
        if not mart["description"].strip():
            problems.append(f"{where}: no description")
        if not mart["columns"]:
            problems.append(f"{where}: no columns in its .yml")
        problems += [
            f"{where}: column {name} has no description"
            for name, column in mart["columns"].items()
            if not column["description"].strip()
        ]
    assert not problems, "Describe them in the model's .yml:\n" + "\n".join(problems)


def test_the_forecast_marts_have_owned_bi_exposures(manifest):
    exposures = list(manifest["exposures"].values())
    assert exposures
    exposed = set()
    for exposure in exposures:
        assert exposure["type"] in {"dashboard", "analysis"}, exposure["name"]
        # Owners and links are the deployment's (dbt vars), never a placeholder domain.
        assert exposure["owner"]["name"], exposure["name"]
        assert exposure["url"].startswith("http"), exposure["name"]
        assert "example.com" not in str([exposure["owner"], exposure["url"]]), exposure["name"]
        assert exposure["description"].strip(), exposure["name"]
        exposed |= {node.split(".")[-1] for node in exposure["depends_on"]["nodes"]}
    assert exposed >= FORECAST_MARTS


def test_dbt_docs_open_on_warecasts_overview(manifest):
    """dbt docs lands on the project's own page: what it builds, where to start, what BI reads."""
    overview = manifest["docs"]["doc.warecast.__overview__"]["block_contents"]
    for mart in ("fct_forecasts_published", "fct_forecast_vs_actual", "fct_model_leaderboard"):
        assert f"`{mart}`" in overview, mart
