"""SIGKILL a run during the dbt build, during training and during the forecast write.

Afterwards the forecast table holds exactly the previous run's rows, no stage table is left
behind, and the next run succeeds. Each killed run is a real `tests.reliability.driver` process.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys

import pytest

from orchestration.settings import REPO_ROOT
from tests.reliability.catalogue import N_MONTHS, RawBuilder
from tests.reliability.harness import (
    HORIZON,
    assert_same_rows,
    failure_messages,
    publish_real_forecasts,
    run_job,
    use_reliability_pipeline,
)

pytestmark = [pytest.mark.timeout(900)]


def _driver(fault: str, target: str) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-m", "tests.reliability.driver", fault, target],
        cwd=REPO_ROOT,
        env=os.environ.copy(),
        capture_output=True,
        text=True,
        timeout=600,
        start_new_session=True,  # the driver kills its own process group, dbt included
    )


def _next_month_of_data(client) -> None:
    """The next run has one more month, so its forecasts would be new rows, not rewrites."""
    raw = RawBuilder()
    for i in range(2):
        raw.series(f"published_{i}", months=range(N_MONTHS + 1), level=30.0 + i)
    client.replace_table("raw", "observations", raw.table())


@pytest.mark.parametrize("target", ["duckdb"])
def test_killed_runs_leave_the_previous_forecasts_and_the_next_run_succeeds(
    target, warecast_home, monkeypatch
):
    use_reliability_pipeline(monkeypatch)
    from orchestration.definitions import build_definitions

    defs = build_definitions(target)
    client = defs.resources["warehouse"].client()
    previous = publish_real_forecasts(defs, client)
    _next_month_of_data(client)

    for fault in ("dbt", "train", "write"):
        killed = _driver(fault, target)
        assert killed.returncode == -signal.SIGKILL, (fault, killed.stdout, killed.stderr[-3000:])
        assert f"FAULT {fault}" in killed.stdout
        assert_same_rows(client.read_table("ml", "forecasts"), previous)
        assert client.leftover_stage_tables() == []

    rerun = run_job(defs)  # in this process: the same code path, without another start-up
    assert rerun.success, failure_messages(rerun)
    forecasts = client.read_table("ml", "forecasts").to_pandas()
    assert len(forecasts) == previous.num_rows + 2 * HORIZON  # the new origin, no duplicates
    key = ["series_id", "model_name", "forecast_origin", "horizon_step"]
    assert not forecasts.duplicated(key).any()
    assert client.leftover_stage_tables() == []
