"""BI readers query marts.fct_forecasts_latest on PostgreSQL in a loop while forecasts are
rewritten: every answer is one complete run's forecasts, never a mix (bounded count and time)."""

from __future__ import annotations

import threading
from pathlib import Path

import psycopg
import pyarrow as pa
import pytest

from orchestration.settings import PROFILES_DIR
from orchestration.warehouse import Warehouse
from orchestration.warehouse.profiles import load_target
from tests.reliability.harness import FORECAST_KEY, published_forecasts, run_dbt

pytestmark = [pytest.mark.postgres, pytest.mark.timeout(300)]

N_SERIES, REWRITES, READERS, MAX_QUERIES = 40, 12, 3, 400


def _build_latest_view(tmp_path: Path) -> None:
    """dbt builds the mart view exactly as in production."""
    result = run_dbt(
        tmp_path,
        "run",
        "--select",
        "+fct_forecasts_latest",  # and the staging view it reads
        "--target",
        "postgres",
        dbt_vars={"forecast_schema": "ml"},
    )
    assert result.returncode == 0, result.stdout[-3000:]


def _with_version(table: pa.Table, version: str) -> pa.Table:
    column = pa.array([version] * table.num_rows)
    return table.set_column(table.column_names.index("model_version"), "model_version", column)


def test_readers_see_complete_old_or_new_forecasts(warecast_home, pg_database, pg_server, tmp_path):
    client = Warehouse.from_profile(load_target(PROFILES_DIR, "postgres"))
    base = published_forecasts(n_series=N_SERIES, version="0")
    client.replace_partitions("ml", "forecasts", base, FORECAST_KEY)
    _build_latest_view(tmp_path)

    done = threading.Event()
    answers: list[tuple] = []
    errors: list[BaseException] = []

    def reader() -> None:
        try:
            with psycopg.connect(pg_server.dsn(pg_database), autocommit=True) as con:
                for _ in range(MAX_QUERIES):
                    if done.is_set():
                        return
                    rows = con.execute(
                        "select model_version, count(*) from marts.fct_forecasts_latest "
                        "group by model_version"
                    ).fetchall()
                    answers.append(tuple(rows))
        except BaseException as error:
            errors.append(error)

    readers = [threading.Thread(target=reader) for _ in range(READERS)]
    for thread in readers:
        thread.start()
    try:
        for i in range(1, REWRITES + 1):
            client.replace_partitions("ml", "forecasts", _with_version(base, str(i)), FORECAST_KEY)
    finally:
        done.set()
        for thread in readers:
            thread.join(timeout=60)

    assert not errors, errors
    assert answers, "the readers never ran"
    complete = base.num_rows
    mixed = [a for a in answers if len(a) != 1 or a[0][1] != complete]
    assert not mixed, f"{len(mixed)} of {len(answers)} answers mixed runs, e.g. {mixed[:3]}"
    seen = {a[0][0] for a in answers}
    assert len(seen) >= 2, f"readers saw only {seen}: the rewrites did not overlap the reads"
