"""Training samples/s: pytorch-forecasting's TimeSeriesDataSet loader vs warecast's tensor path.

Both feeds produce the same training windows (encoder `--encoder` steps, `--horizon` targets)
from the same synthetic hourly series, measured in this one run:

1. data path alone: batches produced per second (the library's DataLoader over
   TimeSeriesDataSet, collate included; vs start indices + `start + arange(L)` gathers from
   contiguous tensors already on the device, with per-window normalisation and season features);
2. end to end: the same batches plus one optimiser step of the same TFT-sized network
   (warecast's Informer, sized to the demo TFT's ~90k parameters), so the model step is
   identical and only the feed differs.

The last line is `RATIO data_path <tensor/library samples per s> target>=5 PASS|MISS`. Runs
unchanged on CUDA (bf16 autocast, tensors moved once, pinned) and then also prints GPU
utilisation sampled every 50 ms during each end-to-end run.

    .venv/bin/python benchmarks/data_path.py [--series 100] [--hours 720] [--batches 20]
"""

from __future__ import annotations

import argparse
import contextlib
import subprocess
import threading
import time
import warnings

import torch

from ml.config import ForecastSpec, NeuralConfig, TFTArchitecture, TrainingConfig
from ml.frames import validate_training_frame
from ml.models.informer import InformerNet
from ml.models.neural import normalise_windows, pinball_loss
from ml.models.tft import TFTForecaster
from ml.synthetic import generate_server_metrics
from ml.windows import SeriesScaler, SeriesTensors, WindowStarts, season_features

TARGET = 5.0


def parse_args() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--series", type=int, default=100)
    parser.add_argument("--hours", type=int, default=720)
    parser.add_argument("--encoder", type=int, default=168)
    parser.add_argument("--horizon", type=int, default=24)
    parser.add_argument("--batch-size", type=int, default=128)
    parser.add_argument("--batches", type=int, default=20, help="timed batches per measurement")
    parser.add_argument("--workers", type=int, default=0, help="library DataLoader workers")
    parser.add_argument(
        "--threads",
        type=int,
        default=1,
        help="torch CPU threads for both feeds (small gathers are latency-bound: on a busy "
        "2-core machine 2 OpenMP threads made them ~100x slower than 1)",
    )
    return parser.parse_args()


def library_loader(frame, spec: ForecastSpec, args):
    """The DataLoader the TFT trains from (ml/models/tft.py), fixed encoder length."""
    arch = TFTArchitecture(max_encoder_length=args.encoder, min_encoder_length=args.encoder)
    tft = TFTForecaster(arch, TrainingConfig(), progress_bar=False)
    tft.spec = spec
    dataset = tft._new_dataset(tft._model_frame(frame))
    return dataset.to_dataloader(
        train=True, batch_size=args.batch_size, num_workers=args.workers
    ), len(dataset)


def from_library(batch, device):
    """The library batch as (past, time_idx, future) for the shared network step."""
    x, (target, _) = batch
    past = x["encoder_target"].to(device, non_blocking=True).float()
    first_future = x["decoder_time_idx"][:, :1].to(device)
    steps = torch.arange(-past.shape[1], target.shape[1], device=device)
    return past, first_future + steps, target.to(device, non_blocking=True).float()


def tensor_batches(frame, spec: ForecastSpec, args, device):
    data = SeriesTensors.build(frame, spec.freq, SeriesScaler.fit(frame)).to(device)
    starts = data.window_starts(args.encoder + spec.horizon).to(device)
    sampler = WindowStarts(starts, args.batch_size, batches=10**9, seed=0)

    def batches():
        for chunk in sampler:
            yield data.gather(chunk, args.encoder, spec.horizon)

    return batches(), len(starts)


def prepared(past, time_idx, future, seasons):
    x, loc, scale = normalise_windows(past)
    return x, season_features(time_idx, seasons), (future - loc) / scale


def synchronise(device):
    if device.type == "cuda":
        torch.cuda.synchronize()


def time_feed(batches, convert, device, n: int, step=None) -> float:
    """Samples/s over n batches after one warm-up batch; `step` adds the model's train step."""
    iterator = iter(batches)
    for i in range(n + 1):
        if i == 1:
            synchronise(device)
            started, samples = time.perf_counter(), 0
        batch = next(iterator, None)
        if batch is None:  # a small data set ends before n batches: start another epoch
            iterator = iter(batches)
            batch = next(iterator)
        x, features, target = convert(batch)
        if step is not None:
            step(x, features, target)
        if i >= 1:
            samples += len(x)
    synchronise(device)
    return samples / (time.perf_counter() - started)


def make_step(net, device):
    optimiser = torch.optim.AdamW(net.parameters(), lr=1e-3)
    autocast = (
        torch.autocast("cuda", dtype=torch.bfloat16)
        if device.type == "cuda"
        else contextlib.nullcontext()
    )

    def step(x, features, target):
        optimiser.zero_grad(set_to_none=True)
        with autocast:
            loss = pinball_loss(net(x, features).float(), target)
        loss.backward()
        optimiser.step()

    return step


class GpuSampler:
    """GPU utilisation (%) every 50 ms while running: torch.cuda.utilization or nvidia-smi."""

    def __init__(self, device):
        self.device, self.samples, self._stop = device, [], threading.Event()

    def _read(self) -> float | None:
        with contextlib.suppress(Exception):
            return float(torch.cuda.utilization(self.device))
        with contextlib.suppress(Exception):
            out = subprocess.run(
                ["nvidia-smi", "--query-gpu=utilization.gpu", "--format=csv,noheader,nounits"],
                capture_output=True,
                text=True,
                timeout=2,
                check=True,
            )
            return float(out.stdout.split()[0])
        return None

    def _run(self):
        while not self._stop.wait(0.05):
            value = self._read()
            if value is not None:
                self.samples.append(value)

    def __enter__(self):
        if self.device.type == "cuda":
            self._thread = threading.Thread(target=self._run, daemon=True)
            self._thread.start()
        return self

    def __exit__(self, *exc):
        self._stop.set()
        if self.device.type == "cuda":
            self._thread.join()

    def summary(self) -> str:
        if not self.samples:
            return "n/a"
        mean = sum(self.samples) / len(self.samples)
        return f"mean {mean:.0f}% min {min(self.samples):.0f}% ({len(self.samples)} samples)"


def main() -> None:
    # The library's loader warns on every batch (sklearn feature names); printing that would
    # slow the baseline, not measure it.
    warnings.filterwarnings("ignore")
    args = parse_args()
    torch.set_num_threads(args.threads)
    device = torch.device("cuda" if torch.cuda.is_available() else "cpu")
    torch.manual_seed(0)
    spec = ForecastSpec(horizon=args.horizon, freq="h", season_length=24)
    frame = validate_training_frame(
        generate_server_metrics(args.series, args.hours, "healthy", seed=0), spec.freq
    )
    print(
        f"device {device}; {args.series} series x {args.hours} h; windows "
        f"{args.encoder}+{args.horizon}; batch {args.batch_size}; {args.batches} batches timed"
    )

    started = time.perf_counter()
    loader, n_library = library_loader(frame, spec, args)
    print(
        f"build  library TimeSeriesDataSet {time.perf_counter() - started:6.2f} s "
        f"({n_library} windows)"
    )
    started = time.perf_counter()
    batches, n_tensor = tensor_batches(frame, spec, args, device)
    print(
        f"build  warecast tensors          {time.perf_counter() - started:6.2f} s "
        f"({n_tensor} windows)"
    )

    seasons = [spec.season_length]
    library = lambda b: prepared(*from_library(b, device), seasons)  # noqa: E731
    tensor = lambda b: prepared(*b, seasons)  # noqa: E731
    data_library = time_feed(loader, library, device, args.batches)
    data_tensor = time_feed(batches, tensor, device, args.batches)
    print(f"data path  library {data_library:12,.0f} samples/s")
    print(f"data path  tensor  {data_tensor:12,.0f} samples/s")

    config = NeuralConfig(
        encoder_length=args.encoder, hidden_size=48, heads=4, layers=2, label_length=24
    )
    net = InformerNet(n_time=2, config=config, horizon=args.horizon).to(device).train()
    print(f"model  Informer, {sum(p.numel() for p in net.parameters()):,} parameters")
    step = make_step(net, device)
    with GpuSampler(device) as gpu_library:
        e2e_library = time_feed(loader, library, device, max(3, args.batches // 4), step)
    with GpuSampler(device) as gpu_tensor:
        e2e_tensor = time_feed(batches, tensor, device, max(3, args.batches // 4), step)
    print(f"end to end library {e2e_library:12,.0f} samples/s  GPU {gpu_library.summary()}")
    print(f"end to end tensor  {e2e_tensor:12,.0f} samples/s  GPU {gpu_tensor.summary()}")
    print(f"end-to-end ratio {e2e_tensor / e2e_library:.2f} (model step included; CPU-bound here)")
    ratio = data_tensor / data_library
    print(f"RATIO data_path {ratio:.2f} target>={TARGET:g} {'PASS' if ratio >= TARGET else 'MISS'}")


if __name__ == "__main__":
    main()
