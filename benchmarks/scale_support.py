"""benchmarks/scale.py's helpers: synthetic hourly Parquet, stage timing with peak RSS.

Peak memory is sampled every 0.2 s as the sum of the proportional set size (PSS) of this
process and all its descendants (dbt's subprocess, statsforecast's forked workers, whose
copy-on-write pages a sum of RSS would count once per worker), read from /proc: no dependency,
Linux only. Each stage line also gives this process's own peak RSS; the maximum resident set
of the process and of its largest finished child (getrusage) is reported at the end, and
each stage's CPU seconds (this process and its finished children) and the 1-minute load
average when it started: on a shared machine, compare CPU seconds, not wall seconds.
"""

from __future__ import annotations

import os
import resource
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq

GIB = 1024**3
START = pd.Timestamp("2024-01-01")


# --- synthetic data ---------------------------------------------------------------------------
def series_ids(n_series: int) -> np.ndarray:
    return np.char.add("s", np.char.zfill(np.arange(n_series).astype(str), 5))


def hourly_chunk(first: int, count: int, hours: int, seed: int, offset: int = 0) -> pa.Table:
    """Series first..first+count-1, hours offset..offset+hours-1 after START: a level, a daily
    and a weekly cycle (random amplitude and phase per series), a slow trend and noise."""
    rng = np.random.default_rng([seed, first])
    t = np.arange(offset, offset + hours)[None, :]
    level = rng.uniform(20, 200, (count, 1))
    daily = rng.uniform(0.05, 0.3, (count, 1)) * np.sin(
        2 * np.pi * (t + rng.integers(0, 24, (count, 1))) / 24
    )
    weekly = rng.uniform(0.02, 0.15, (count, 1)) * np.sin(
        2 * np.pi * (t + rng.integers(0, 168, (count, 1))) / 168
    )
    trend = rng.uniform(-0.1, 0.1, (count, 1)) * t / 8760
    noise = rng.normal(0, 0.03, (count, hours))
    values = level * (1 + daily + weekly + trend + noise)
    ts = (START + pd.to_timedelta(np.arange(offset, offset + hours), unit="h")).to_numpy()
    ids = series_ids(first + count)[first:]
    return pa.table(
        {
            "series_id": pa.array(np.repeat(ids, hours)),
            "ts": pa.array(np.tile(ts, count), pa.timestamp("us")),
            "value": pa.array(values.ravel()),
        }
    )


def write_hourly(path: Path, n_series: int, hours: int, seed: int = 0, chunk: int = 250) -> int:
    """The whole data set as one Parquet file, written a chunk of series at a time."""
    rows = 0
    with pq.ParquetWriter(path, hourly_chunk(0, 1, 1, seed).schema) as writer:
        for first in range(0, n_series, chunk):
            table = hourly_chunk(first, min(chunk, n_series - first), hours, seed)
            writer.write_table(table)
            rows += table.num_rows
    return rows


def day_n_rows(
    n_series: int, hours: int, corrections: int, seed: int = 0, chunk: int = 250
) -> pa.Table:
    """The next hour of every series (its own continuation: the chunks of write_hourly, one hour
    longer), plus `corrections` late rows for old hours of other series: value x 1.2."""
    rng = np.random.default_rng([seed, 1])
    picked = rng.choice(n_series, size=min(corrections, n_series), replace=False)
    when = rng.integers(hours // 2, hours - 1, len(picked))
    old_hour = dict(zip(picked.tolist(), when.tolist(), strict=True))
    parts = []
    for first in range(0, n_series, chunk):
        count = min(chunk, n_series - first)
        table = hourly_chunk(first, count, hours + 1, seed)
        position = np.arange(table.num_rows)
        newest = position % (hours + 1) == hours
        series = first + position // (hours + 1)
        late = np.array([old_hour.get(int(s), -1) for s in series]) == position % (hours + 1)
        parts.append(table.filter(pa.array(newest)))
        if late.any():
            rows = table.filter(pa.array(late))
            parts.append(rows.set_column(2, "value", pc.multiply(rows["value"], 1.2)))
    return pa.concat_tables(parts)


# --- measuring --------------------------------------------------------------------------------
def _children() -> dict[int, list[int]]:
    tree: dict[int, list[int]] = {}
    for entry in os.scandir("/proc"):
        if not entry.name.isdigit():
            continue
        try:
            with open(f"/proc/{entry.name}/stat") as handle:
                fields = handle.read().rsplit(")", 1)[1].split()
            tree.setdefault(int(fields[1]), []).append(int(entry.name))
        except (OSError, IndexError):
            continue
    return tree


def _rss(pid: int) -> int:
    try:
        with open(f"/proc/{pid}/statm") as handle:
            return int(handle.read().split()[1]) * os.sysconf("SC_PAGE_SIZE")
    except (OSError, IndexError):
        return 0


def _pss(pid: int) -> int:
    """Proportional set size: shared pages (a forked worker's copy-on-write view of its parent)
    count once across the processes sharing them, unlike a sum of RSS."""
    try:
        with open(f"/proc/{pid}/smaps_rollup") as handle:
            for line in handle:
                if line.startswith("Pss:"):
                    return int(line.split()[1]) * 1024
    except (OSError, IndexError, ValueError):
        pass
    return _rss(pid)


def tree_rss(root: int | None = None, measure=_pss) -> int:
    """Memory of `root` (default: this process) and all its descendants: the sum of their PSS
    (RSS where the kernel has no smaps_rollup)."""
    root = root or os.getpid()
    tree, total, pending = _children(), 0, [root]
    while pending:
        pid = pending.pop()
        total += measure(pid)
        pending.extend(tree.get(pid, []))
    return total


class PeakSampler:
    """Samples tree_rss() in a thread while a stage runs; `peak` is the largest sample."""

    def __init__(self, interval: float = 0.2):
        self.interval, self.peak, self.own = interval, 0, 0
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._loop, daemon=True)

    def _loop(self) -> None:
        while not self._stop.is_set():
            self.peak = max(self.peak, tree_rss())
            self.own = max(self.own, _rss(os.getpid()))
            self._stop.wait(self.interval)

    def __enter__(self) -> PeakSampler:
        self._thread.start()
        return self

    def __exit__(self, *exc) -> None:
        self._stop.set()
        self._thread.join()
        self.peak = max(self.peak, tree_rss())


@dataclass
class Stages:
    """One line per stage: seconds and the peak RSS of the process tree during it."""

    rows: list[tuple[str, str, float, int]] = field(default_factory=list)
    own_peak: dict[str, int] = field(default_factory=dict)  # this process's RSS, per target
    # CPU seconds (this process + its finished children) per (target, stage): on a shared
    # machine the wall seconds include waiting for a core; the CPU seconds do not.
    cpu: dict[tuple[str, str], float] = field(default_factory=dict)

    def run(self, target: str, name: str, fn, *args, **kwargs):
        load = os.getloadavg()[0]
        with PeakSampler() as sampler:
            started, before = time.perf_counter(), _cpu_seconds()
            result = fn(*args, **kwargs)
            seconds, cpu = time.perf_counter() - started, _cpu_seconds() - before
        self.rows.append((target, name, seconds, sampler.peak))
        self.cpu[target, name] = cpu
        self.own_peak[target] = max(self.own_peak.get(target, 0), sampler.own)
        print(
            f"  {target:<9} {name:<44} {seconds:8.1f} s   peak {sampler.peak / GIB:5.2f} GiB"
            f" (process RSS {sampler.own / GIB:5.2f})   cpu {cpu:7.1f} s   load {load:4.1f}",
            flush=True,
        )
        return result

    def seconds(self, target: str, name: str) -> float:
        return next(s for t, n, s, _ in self.rows if (t, n) == (target, name))

    def peak(self, target: str | None = None) -> int:
        return max((p for t, _, _, p in self.rows if target in (None, t)), default=0)

    def total(self, target: str, names: list[str]) -> float:
        return sum(self.seconds(target, n) for n in names)


def _cpu_seconds() -> float:
    times = os.times()
    return times.user + times.system + times.children_user + times.children_system


def getrusage_peaks() -> tuple[float, float]:
    """(this process's max RSS, the largest finished child's), GiB (ru_maxrss is KiB)."""
    own = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024 / GIB
    children = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss * 1024 / GIB
    return own, children


def ratio_line(name: str, value: float, target: float, higher_is_better: bool = True) -> str:
    ok = value >= target if higher_is_better else value <= target
    sign = ">=" if higher_is_better else "<="
    return f"RATIO {name} {value:.2f} target{sign}{target:g} {'PASS' if ok else 'MISS'}"
