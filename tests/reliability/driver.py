"""Test-only driver: run the pipeline in this process and SIGKILL it at a chosen point.

    python -m tests.reliability.driver FAULT TARGET     FAULT: none | dbt | train | write

WARECAST_DRIVER_INSTANCE=persistent uses the Dagster instance `warecast run` uses (DAGSTER_HOME).

The faults are installed here by wrapping library and warecast functions, so production code
carries no hook. The process group is killed (start the driver with start_new_session=True), so
a `dbt build` subprocess dies with it, exactly as when a machine or container is killed.
"""

from __future__ import annotations

import os
import signal
import sys

FAULTS = ("none", "dbt", "train", "write")


def _die(where: str) -> None:
    print(f"FAULT {where}", flush=True)
    os.killpg(os.getpgid(0), signal.SIGKILL)


def _kill_during_dbt_build(models_before_kill: int = 2) -> None:
    """After dbt reports its N-th finished model: the build is half done."""
    from dagster_dbt.core.dbt_cli_invocation import DbtCliInvocation

    real = DbtCliInvocation.stream_raw_events

    def stream_raw_events(self):
        finished = 0
        for event in real(self):
            yield event
            if event.raw_event.get("info", {}).get("name") == "LogModelResult":
                finished += 1
                if finished >= models_before_kill:
                    _die("dbt")

    DbtCliInvocation.stream_raw_events = stream_raw_events


def _kill_during_training() -> None:
    """When the first training batch has updated the weights."""
    import lightning.pytorch as pl

    class KillAfterBatches(pl.Callback):
        def on_train_batch_end(self, trainer, pl_module, outputs, batch, batch_idx):
            _die("train")

    real_fit = pl.Trainer.fit

    def fit(self, *args, **kwargs):
        self.callbacks.append(KillAfterBatches())
        return real_fit(self, *args, **kwargs)

    pl.Trainer.fit = fit


def _kill_during_forecast_write() -> None:
    """Inside the forecast write's transaction, after the old rows are deleted, before commit."""
    from orchestration.warehouse.base import Warehouse, run_step

    real = Warehouse._in_transaction

    def in_transaction(s, steps, lock_key=None):
        if not (lock_key or "").endswith(".forecasts"):
            return real(s, steps, lock_key)
        s.begin()
        s.lock_for_write(lock_key)
        for step in steps:
            run_step(s, step)
        _die("write")

    Warehouse._in_transaction = staticmethod(in_transaction)


def main(fault: str, target: str) -> int:
    from tests.reliability.harness import failure_messages, register_reliability_pipeline, run_job

    register_reliability_pipeline()
    installers = {
        "dbt": _kill_during_dbt_build,
        "train": _kill_during_training,
        "write": _kill_during_forecast_write,
    }
    if fault != "none":
        installers[fault]()
    from orchestration.definitions import build_definitions

    if os.environ.get("WARECAST_DRIVER_INSTANCE") == "persistent":
        # The instance `warecast run` uses: its event log storage lands under WARECAST_HOME.
        import dagster as dg

        from orchestration.settings import warecast_home

        warecast_home()
        with dg.DagsterInstance.get() as instance:
            result = run_job(build_definitions(target), instance=instance)
    else:
        result = run_job(build_definitions(target))
    if not result.success:
        print(failure_messages(result), file=sys.stderr)
        return 1
    print("RUN OK", flush=True)
    return 0


if __name__ == "__main__":
    fault_name, target_name = sys.argv[1], sys.argv[2]
    if fault_name not in FAULTS:
        raise SystemExit(f"fault must be one of {FAULTS}, got {fault_name!r}")
    sys.exit(main(fault_name, target_name))
