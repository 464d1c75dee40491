"""Test-only: SIGKILL this process inside an append's transaction, after its rows are inserted.

    python -m tests.reliability.kill_append TARGET

The fault is installed by wrapping Appending._append_step (orchestration/warehouse/loads.py), so
production code carries no hook: the rows and the load-log row are written, the commit never runs.
"""

from __future__ import annotations

import os
import signal
import sys


def main(target: str) -> None:
    from orchestration.settings import PROFILES_DIR
    from orchestration.warehouse import Warehouse
    from orchestration.warehouse.loads import Appending
    from orchestration.warehouse.profiles import load_target
    from tests.dbt.test_incremental import arrow, loads

    real = Appending._append_step

    def append_then_die(self, *args, **kwargs):
        real(self, *args, **kwargs)
        print("FAULT append", flush=True)
        os.kill(os.getpid(), signal.SIGKILL)

    Appending._append_step = append_then_die
    client = Warehouse.from_profile(load_target(PROFILES_DIR, target))
    client.append_rows("raw", "observations", arrow(loads()[2]), "loaded_at", "observation_loads")


if __name__ == "__main__":
    main(sys.argv[1])
