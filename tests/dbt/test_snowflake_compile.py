"""The dbt project compiles for Snowflake offline and every statement parses as Snowflake SQL.

A cheap check that the SQL stays portable; it does not prove Snowflake accepts it (sqlglot is
more lenient than Snowflake). The models also run on fakesnow in tests/e2e/test_pipeline.py.
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import sqlglot

from orchestration.settings import DBT_PROJECT_DIR, PROFILES_DIR


def test_compiled_models_parse_as_snowflake(tmp_path):
    env = dict(os.environ, SNOWFLAKE_ACCOUNT="ci", SNOWFLAKE_USER="ci", SNOWFLAKE_PASSWORD="ci")
    env.pop("WARECAST_FAKESNOW", None)  # what real Snowflake gets: no fakesnow shim
    dbt = Path(sys.executable).with_name("dbt")
    result = subprocess.run(
        [
            str(dbt),
            "compile",
            "--profiles-dir",
            str(PROFILES_DIR),
            "--target",
            "snowflake",
            "--no-introspect",
            "--no-populate-cache",
            "--target-path",
            str(tmp_path),
            "-q",
        ],
        cwd=DBT_PROJECT_DIR,
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert result.returncode == 0, result.stdout + result.stderr
    compiled = sorted((tmp_path / "compiled").rglob("*.sql"))
    sources = {p.stem for p in (DBT_PROJECT_DIR / "models").rglob("*.sql")}
    models = [p for p in compiled if p.stem in sources]
    assert {p.stem for p in models} == sources
    for path in compiled:
        sqlglot.parse_one(path.read_text(), read="snowflake")
    regularized = next(p for p in models if p.stem == "int_observations_regularized")
    assert "array_generate_range" in regularized.read_text()  # the Snowflake spine branch
    features = next(p for p in models if p.stem == "fct_training_features").read_text()
    assert "rows between unbounded preceding and current row" in features  # running sums
    assert "preceding and current row" not in features.replace("unbounded preceding", "")
