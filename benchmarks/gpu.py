"""The networks on an accelerator: throughput, utilisation, memory and accuracy per family, and
a check that a model trained there forecasts the same once reloaded on a CPU.

    python benchmarks/gpu.py            # on a GPU machine: the demo and 10,000 hourly series
    python benchmarks/gpu.py --small    # anywhere (CI): a small slice with tiny presets, seconds

For each family (tft, nhits, mlp) and data set it trains the family's own `fit` once and times
every Lightning training step through a callback added to each Trainer the family builds:

    FIGURE <family> <data> device=<name> samples_per_s=<x> step_ms=<x> loader_share=<x>
           gpu_util=<mean %> gpu_mem_gib=<peak> fit_s=<x>
    ACCURACY <family> demo mase=<x> coverage_80=<x>      (backtest, one cutoff, on this device)
    PARITY <family> max_abs_diff=<x> tolerance=<x> PASS|MISS

`loader_share` is the part of each step's wall time spent waiting for the next batch (loader,
collate and the copy to the device). PARITY saves the model fitted here (safetensors + JSON),
loads it in a fresh process that cannot see a GPU, and compares its p50 with this process's.
Without CUDA the first line says "no GPU" and the same measurements run on the CPU. Timings are
never asserted; a PARITY MISS (a reloaded model that forecasts otherwise) exits 1.
docs/benchmarks.md records runs.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import logging
import os
import subprocess
import sys
import tempfile
import time
import warnings
from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO_ROOT))

import lightning.pytorch as pl  # noqa: E402
import numpy as np  # noqa: E402
import pandas as pd  # noqa: E402
import torch  # noqa: E402

from benchmarks.data_path import GpuSampler, synchronise  # noqa: E402
from ml.backtest import BacktestConfig, Candidate, run_backtest  # noqa: E402
from ml.config import ForecastSpec  # noqa: E402
from ml.frames import validate_training_frame  # noqa: E402

FAMILIES = ("tft", "nhits", "mlp")
WARM_UP_STEPS = 3  # first steps carry CUDA initialisation and kernel selection
# bf16 autocast on the GPU against float32 on the CPU: p50s agree to a few tenths of a percent.
PARITY_RTOL = 0.02


def parse_args() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--small", action="store_true", help="tiny presets on a small slice")
    parser.add_argument("--families", default=",".join(FAMILIES))
    parser.add_argument("--series", type=int, default=10_000, help="hourly series (large set)")
    parser.add_argument("--hours", type=int, default=24 * 28, help="hours per hourly series")
    parser.add_argument("--batches", type=int, default=150, help="training batches per fit")
    return parser.parse_args()


class StepTimer(pl.Callback):
    """Wall time of every training step and of the wait for its batch; samples seen."""

    def __init__(self) -> None:
        self.steps: list[float] = []
        self.waits: list[float] = []
        self.samples = 0
        self._ended: float | None = None
        self._started = 0.0

    def on_train_epoch_start(self, trainer, module) -> None:
        self._ended = time.perf_counter()

    def on_train_batch_start(self, trainer, module, batch, batch_idx) -> None:
        self._started = time.perf_counter()
        if self._ended is not None:
            self.waits.append(self._started - self._ended)
        self.samples += batch_rows(batch)

    def on_train_batch_end(self, trainer, module, outputs, batch, batch_idx) -> None:
        synchronise(module.device)
        self._ended = time.perf_counter()
        self.steps.append(self._ended - self._started)

    def summary(self) -> dict[str, float]:
        steps, waits = self.steps[WARM_UP_STEPS:], self.waits[WARM_UP_STEPS:]
        busy = sum(steps) + sum(waits)
        rows = self.samples * len(steps) / max(len(self.steps), 1)
        return {
            "samples_per_s": rows / busy if busy else float("nan"),
            "step_ms": 1000 * float(np.median(steps)) if steps else float("nan"),
            "loader_share": sum(waits) / busy if busy else float("nan"),
        }


def batch_rows(batch) -> int:
    """Samples in a batch of either feed: a tensor of window starts, or the library's (x, y)."""
    if torch.is_tensor(batch):
        return len(batch)
    if isinstance(batch, dict):
        return batch_rows(next(iter(batch.values())))
    return batch_rows(batch[0])


@contextlib.contextmanager
def timed_trainers(timer: StepTimer):
    """Every Trainer a family builds while inside gets `timer` among its callbacks."""
    original = pl.Trainer

    def trainer(*args, callbacks=None, **kwargs):
        return original(*args, callbacks=[*(callbacks or []), timer], **kwargs)

    pl.Trainer = trainer
    try:
        yield
    finally:
        pl.Trainer = original


def forecaster(family: str, small: bool, batches: int):
    from ml.models import create_forecaster

    if family == "mlp":
        preset, limit = ("tiny", {"batches_per_epoch": batches, "max_epochs": 1})
    else:
        preset, limit = ("tiny", {"limit_train_batches": batches, "max_epochs": 1})
    if not small:
        preset = "medium"
    return create_forecaster(family, preset, **limit)


def data_sets(args) -> dict[str, tuple[pd.DataFrame, ForecastSpec]]:
    from ml.datasets import load_aus_retail
    from ml.synthetic import generate_server_metrics

    demo = load_aus_retail()
    hourly = generate_server_metrics(args.series, args.hours, "healthy", seed=0)
    if args.small:
        demo = demo[demo["series_id"].isin(sorted(demo["series_id"].unique())[:12])]
    monthly = ForecastSpec(horizon=24, freq="MS", season_length=12)
    hours = ForecastSpec(horizon=48, freq="h", season_length=24)
    return {
        "demo": (validate_training_frame(demo, monthly.freq), monthly),
        f"hourly_{args.series}": (validate_training_frame(hourly, hours.freq), hours),
    }


def measure_fit(family, frame, spec, args, device) -> tuple[dict, object]:
    model = forecaster(family, args.small, args.batches)
    timer = StepTimer()
    if device.type == "cuda":
        torch.cuda.reset_peak_memory_stats()
    started = time.perf_counter()
    with timed_trainers(timer), GpuSampler(device) as gpu:
        model.fit(frame, spec, validate=False)
    figures = {**timer.summary(), "fit_s": time.perf_counter() - started}
    figures["gpu_util"] = gpu.summary()
    if device.type == "cuda":
        figures["gpu_mem_gib"] = torch.cuda.max_memory_allocated() / 2**30
    return figures, model


def accuracy(family, frame, spec, args) -> dict[str, float]:
    candidate = Candidate(family, "bench", lambda: forecaster(family, args.small, args.batches))
    result = run_backtest(frame, spec, [candidate], BacktestConfig(cutoffs=1))
    row = result.summary.iloc[0]
    return {"mase": float(row["mase"]), "coverage_80": float(row["coverage_80"])}


def parity(model, frame: pd.DataFrame) -> tuple[float, float]:
    """(max |p50 here - p50 reloaded on a CPU|, the tolerance for these values)."""
    here = model.predict(frame).sort_values(["series_id", "horizon_step"], ignore_index=True)
    with tempfile.TemporaryDirectory() as folder:
        model.save(Path(folder) / "model")
        frame.to_parquet(Path(folder) / "history.parquet")
        script = (
            "import sys, pandas as pd; from ml.models import load_forecaster; "
            "f = load_forecaster(sys.argv[1] + '/model'); "
            "h = pd.read_parquet(sys.argv[1] + '/history.parquet'); "
            "f.predict(h).to_parquet(sys.argv[1] + '/cpu.parquet')"
        )
        env = {**os.environ, "CUDA_VISIBLE_DEVICES": "", "PYTHONWARNINGS": "ignore"}
        subprocess.run([sys.executable, "-c", script, folder], check=True, cwd=REPO_ROOT, env=env)
        cpu = pd.read_parquet(Path(folder) / "cpu.parquet")
    cpu = cpu.sort_values(["series_id", "horizon_step"], ignore_index=True)
    diff = np.abs(here["p50"].to_numpy() - cpu["p50"].to_numpy())
    return float(diff.max()), PARITY_RTOL * float(np.abs(here["p50"]).max())


def line(kind: str, *words: str, **figures) -> None:
    values = " ".join(
        f"{k}={v:.4g}" if isinstance(v, float) else f"{k}={v}" for k, v in figures.items()
    )
    print(" ".join([kind, *words, values]), flush=True)


def main() -> None:
    warnings.filterwarnings("ignore")  # the library's loader warns on every batch
    logging.getLogger("lightning.pytorch").setLevel(logging.WARNING)  # its tips, once per fit
    args = parse_args()
    if args.small:
        args.series, args.hours, args.batches = 10, 24 * 10, 6
    device = torch.device("cuda" if torch.cuda.is_available() else "cpu")
    name = torch.cuda.get_device_name(device) if device.type == "cuda" else "cpu"
    if device.type != "cuda":
        print("no GPU: CUDA is not available here; measuring on the CPU instead", flush=True)
    print(f"device {name}; torch {torch.__version__}; families {args.families}", flush=True)
    sets, misses = data_sets(args), []
    for family in args.families.split(","):
        for label, (frame, spec) in sets.items():
            figures, model = measure_fit(family, frame, spec, args, device)
            line("FIGURE", family, label, device=device.type, **figures)
            if label == "demo":
                line("ACCURACY", family, label, **accuracy(family, frame, spec, args))
                diff, tolerance = parity(model, frame)
                verdict = "PASS" if diff <= tolerance else "MISS"
                line("PARITY", family, verdict, max_abs_diff=diff, tolerance=tolerance)
                misses += [family] if verdict == "MISS" else []
    print(json.dumps({"device": name, "small": args.small, "parity_miss": misses}), flush=True)
    sys.exit(1 if misses else 0)


if __name__ == "__main__":
    main()
