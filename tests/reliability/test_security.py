"""Security: the pipeline as a least-privilege PostgreSQL role with a password that must never
leak; hostile configuration; a tampered model artefact in the MLflow store fails closed.

The roles and grants are those docs/security.md prescribes.
"""

from __future__ import annotations

import os
import secrets
import subprocess
import sys
import time
from pathlib import Path
from urllib.parse import quote

import pandas as pd
import psycopg
import psycopg.sql
import pytest

from orchestration.hierarchy_io import declared_levels, write_series_attributes
from orchestration.settings import DBT_PROJECT_DIR, PROFILES_DIR, REPO_ROOT
from orchestration.warehouse import Warehouse
from orchestration.warehouse.profiles import load_target
from tests.reliability.catalogue import RawBuilder
from tests.reliability.harness import HORIZON, MODEL_NAME, run_dbt

pytestmark = [pytest.mark.timeout(900)]

# Roles are cluster-wide and the server lives for the session: one fresh role per test.
APP_ROLE = f"warecast_app_{secrets.token_hex(3)}"
# docs/security.md, "PostgreSQL": the loader owns raw; warecast reads it and owns its schemas.
LEAST_PRIVILEGE_SQL = """
create role {role} login password {password};
grant connect, temporary on database {database} to {role};
create schema raw;
grant usage on schema raw to {role};
alter default privileges in schema raw grant select on tables to {role};
create schema staging authorization {role};
create schema intermediate authorization {role};
create schema marts authorization {role};
create schema ml authorization {role};
create schema finance;
create table finance.salaries (name text, amount numeric);
"""


def _admin(pg_server, database: str) -> psycopg.Connection:
    return psycopg.connect(pg_server.dsn(database), autocommit=True)


def _require_password(pg_server, role: str) -> None:
    """Only this role must authenticate with its password (scram); the rest stays trust."""
    with _admin(pg_server, "postgres") as con:
        hba = Path(con.execute("show hba_file").fetchone()[0])
        line = f"host all {role} 127.0.0.1/32 scram-sha-256\n"
        if line not in hba.read_text():
            hba.write_text(line + hba.read_text())
        con.execute("select pg_reload_conf()")
    time.sleep(0.5)


def _set_up_least_privilege(pg_server, database: str, role: str, password: str) -> None:
    with _admin(pg_server, database) as con:
        literal = psycopg.sql.Literal(password).as_string(con)
        for statement in LEAST_PRIVILEGE_SQL.split(";\n"):
            if statement.strip():
                con.execute(statement.format(role=role, database=database, password=literal))
    _require_password(pg_server, role)


def _load_raw_as_admin() -> None:
    raw = RawBuilder()
    for i in range(2):
        raw.series(f"store_{i}", level=40.0 + i)
    admin = Warehouse.from_profile({**load_target(PROFILES_DIR, "postgres"), "user": "postgres"})
    admin.replace_table("raw", "observations", raw.table())
    # The loader owns raw, so it also loads the series' hierarchy attributes the pipeline
    # declares (docs/security.md); warecast only reads them.
    attributes = pd.DataFrame({"series_id": ["store_0", "store_1"]}, dtype="string")
    for level in declared_levels():
        attributes[level] = pd.Series([f"{level}_a", f"{level}_b"], dtype="string")
    write_series_attributes(admin, "raw", attributes)


def _files_containing(root: Path, needles: list[bytes], since: float) -> list[str]:
    hits = []
    for path in root.rglob("*"):
        if path.is_file() and path.stat().st_mtime >= since:
            data = path.read_bytes()
            if any(needle in data for needle in needles):
                hits.append(str(path))
    return hits


@pytest.mark.postgres
def test_pipeline_runs_as_least_privilege_role_and_never_leaks_the_password(
    warecast_home, pg_database, pg_server, monkeypatch
):
    started = time.time() - 1
    password = f"wc-{secrets.token_hex(8)}-p@ss;'\""
    _set_up_least_privilege(pg_server, pg_database, APP_ROLE, password)
    _load_raw_as_admin()
    monkeypatch.setenv("WARECAST_PG_USER", APP_ROLE)

    monkeypatch.setenv("WARECAST_PG_PASSWORD", "wrong")
    with pytest.raises(Exception, match="password authentication failed"):
        Warehouse.from_profile(load_target(PROFILES_DIR, "postgres")).table_exists("raw", "x")
    monkeypatch.setenv("WARECAST_PG_PASSWORD", password)
    app = Warehouse.from_profile(load_target(PROFILES_DIR, "postgres"))
    with pytest.raises(Exception, match="permission denied"):
        app.replace_table("raw", "observations", app.read_table("raw", "observations"))
    with pytest.raises(Exception, match="does not exist"):  # not even visible to the role
        app.read_table("finance", "salaries")
    with app.session() as session, pytest.raises(Exception, match="permission denied"):
        session.fetch_arrow('select * from "finance"."salaries"')

    run = subprocess.run(
        [sys.executable, "-m", "tests.reliability.driver", "none", "postgres"],
        cwd=REPO_ROOT,
        env={**os.environ, "WARECAST_DRIVER_INSTANCE": "persistent"},
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert run.returncode == 0, run.stderr[-3000:]
    forecasts = app.read_table("ml", "forecasts").to_pandas()
    assert len(forecasts) == 2 * HORIZON
    assert len(app.read_table("marts", "fct_forecasts_latest")) == 2 * HORIZON

    needles = [password.encode(), quote(password, safe="").encode()]
    logs = (run.stdout + run.stderr).encode()
    assert not any(needle in logs for needle in needles), "password in the run's output"
    home = Path(os.environ["WARECAST_HOME"])
    assert (home / "dagster").exists() and any(home.rglob("*.db")), "no stores were written"
    assert _files_containing(home, needles, since=0) == []  # MLflow + Dagster storage
    for folder in ("target", "logs"):  # dbt's run artefacts and logs of this run
        assert _files_containing(DBT_PROJECT_DIR / folder, needles, since=started) == []

    _tampered_champion_fails_closed(home)


def _tampered_champion_fails_closed(home: Path) -> None:
    """Truncate the champion's safetensors weights in the MLflow artifact store: loading fails."""
    from orchestration.settings import mlflow_tracking_uri
    from orchestration.tracking import MlflowTracking

    weights = sorted(home.rglob("*.safetensors"))
    assert weights, "no safetensors weights in the MLflow store"
    for path in weights:
        path.write_bytes(path.read_bytes()[:1000])
    tracking = MlflowTracking(
        tracking_uri=mlflow_tracking_uri(), artifact_root=str(home / "mlartifacts")
    )
    with pytest.raises(Exception, match="cannot be loaded"):
        tracking.load_champion(MODEL_NAME)


@pytest.mark.parametrize(
    ("dbt_vars", "model", "message"),
    [
        (
            {"covariates": ["price; drop table raw.observations"]},
            "stg_raw__observations",
            "is not a plain column name",
        ),
        ({"min_value": "0 or 1=1"}, "stg_raw__observations", "must be a number"),
        ({"outlier_z": "1) or (1=1"}, "fct_training_features", "must be a number"),
    ],
)
def test_hostile_dbt_vars_are_refused_before_any_sql(
    warecast_home, tmp_path, dbt_vars, model, message
):
    result = run_dbt(tmp_path, "compile", "--select", model, "--no-introspect", dbt_vars=dbt_vars)
    assert result.returncode != 0
    assert message in result.stdout


def test_uis_bind_to_localhost_only():
    makefile = (REPO_ROOT / "Makefile").read_text()
    commands = ("dagster dev", "mlflow ui", "mlflow server")
    ui_lines = [line for line in makefile.splitlines() if any(c in line for c in commands)]
    assert ui_lines, "no UI targets found in the Makefile"
    assert all("--host 127.0.0.1" in line for line in ui_lines), ui_lines
    assert "0.0.0.0" not in makefile
