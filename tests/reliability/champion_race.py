"""Test-only driver: materialize ml/trained_model in this process once told to start.

    python -m tests.reliability.champion_race TARGET FOLDER NAME

Imports and builds the definitions first, writes FOLDER/NAME.ready, waits for FOLDER/go, then
runs the trained-model asset (a Dagster instance of its own, as two `warecast run` processes on
two machines would have) and writes its materialization metadata to FOLDER/NAME.json. Two of
these started together race to register a champion from the same feature data version.

WARECAST_RACE_WITHOUT_LOCK=1 (set it for the pytest run; the racers inherit it) replaces the
warehouse lock with nothing, here only, to see the test fail without it.
"""

from __future__ import annotations

import contextlib
import json
import os
import sys
import time
from pathlib import Path

import dagster as dg

TRAINED = dg.AssetKey(["ml", "trained_model"])


def main(target: str, folder: Path, name: str) -> int:
    from tests.reliability.harness import register_reliability_pipeline

    register_reliability_pipeline()  # before orchestration.definitions reads the pipeline
    from orchestration.definitions import build_definitions

    if os.environ.get("WARECAST_RACE_WITHOUT_LOCK") == "1":
        from orchestration.warehouse import PostgresWarehouse, Warehouse

        for cls in (Warehouse, PostgresWarehouse):
            cls.exclusive = lambda self, name, on_wait=None: contextlib.nullcontext()
    job = build_definitions(target).resolve_job_def("forecast_pipeline")
    (folder / f"{name}.ready").touch()
    deadline = time.monotonic() + 120
    while not (folder / "go").exists():
        if time.monotonic() > deadline:
            raise TimeoutError(f"{folder / 'go'} never appeared")
        time.sleep(0.01)
    result = job.execute_in_process(
        run_config={"ops": {"ml__trained_model": {"config": {"progress_bar": False}}}},
        instance=dg.DagsterInstance.ephemeral(),
        asset_selection=[TRAINED],
        raise_on_error=False,
    )
    metadata = {}
    if result.success:
        (event,) = result.asset_materializations_for_node("ml__trained_model")
        metadata = {key: value.value for key, value in event.metadata.items()}
    out = {"success": result.success, "metadata": metadata}
    (folder / f"{name}.json").write_text(json.dumps(out, default=str))
    return 0 if result.success else 1


if __name__ == "__main__":
    sys.exit(main(sys.argv[1], Path(sys.argv[2]), sys.argv[3]))
