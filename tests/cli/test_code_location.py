"""`warecast load/run` runs are listed by the Dagster UI as runs of the code location it serves
(`make ui`: dagster dev -m orchestration.definitions), not only on the Runs page."""

from __future__ import annotations

import dagster as dg
import pytest
from dagster._core.storage.tags import REPOSITORY_LABEL_TAG

from orchestration.code_location import DEFINITIONS_MODULE
from orchestration.settings import REPO_ROOT
from tests.cli.helpers import warecast

pytestmark = [pytest.mark.timeout(300)]

COLUMNS = ["--series-id", "store", "--timestamp", "day", "--value", "sales"]


def test_a_cli_run_is_a_run_of_the_code_location_the_ui_loads(warecast_home, tmp_path, monkeypatch):
    path = tmp_path / "sales.csv"
    path.write_text("store,day,sales\na,2024-01-01,1.5\na,2024-02-01,2.5\nb,2024-01-01,3.0\n")
    result = warecast("load", str(path), *COLUMNS)
    assert result.returncode == 0, result.stderr[-3000:]

    # The repository's dagster.yaml, on the storage the command used (WARECAST_HOME/dagster).
    monkeypatch.setenv("WARECAST_DAGSTER_DIR", str(warecast_home / "dagster"))
    with dg.DagsterInstance.from_config(str(REPO_ROOT)) as instance:
        [run] = instance.get_runs()
        label = f"__repository__@{DEFINITIONS_MODULE}"
        # The Overview timeline places a run by its origin; the job's page filters by the tag.
        assert run.remote_job_origin is not None, "the run has no code-location origin"
        assert run.remote_job_origin.location_name == DEFINITIONS_MODULE
        assert run.remote_job_origin.job_name == "forecast_pipeline"
        filtered = dg.RunsFilter(job_name="forecast_pipeline", tags={REPOSITORY_LABEL_TAG: label})
        assert [r.run_id for r in instance.get_runs(filtered)] == [run.run_id]
        assert run.status == dg.DagsterRunStatus.SUCCESS
