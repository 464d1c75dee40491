"""warecast's fast tensor data path for the deep models on it (LSTM, Informer).

The frame is read once into contiguous tensors: every series' values back to back in one float32
tensor, with `offsets` marking where each series starts. A training window is then just its
start position: a batch is `starts[:, None] + arange(length)` gathered from that tensor — no
per-sample Python, and no window is ever materialized beyond the batch being trained on. The
tensors move to the device once (pinned first on CUDA); the loader only hands out start indices.

Scaling: one mean/std per series, fitted on the training part only (held-out steps excluded),
kept as plain numbers for config.json. Models also centre/scale each window on its own encoder
part (see ml/models/neural.py), which needs no state at all.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
import pandas as pd
import torch
from torch.utils.data import IterableDataset


def _period_alias(freq: str) -> str:
    """Offset alias -> period alias whose ordinals count grid steps since 1970."""
    for start, period in (("MS", "M"), ("QS", "Q"), ("YS", "Y"), ("AS", "Y")):
        if freq.startswith(start):
            return period
    return freq


def time_index(ts: pd.Series, freq: str) -> np.ndarray:
    """Grid-step ordinals: consecutive periods differ by exactly 1."""
    return pd.to_datetime(ts).dt.to_period(_period_alias(freq)).array.asi8.astype("int64")


def season_features(time_idx: torch.Tensor, season_lengths: list[int]) -> torch.Tensor:
    """Known-in-the-future inputs: sin/cos of the position in each season, (..., 2 * seasons)."""
    parts = []
    for m in season_lengths:
        phase = (time_idx % m).float() * (2 * math.pi / m)
        parts += [torch.sin(phase), torch.cos(phase)]
    return torch.stack(parts, dim=-1)


@dataclass
class SeriesScaler:
    """Per-series mean and std as plain numbers (JSON); unseen series are scaled by their own
    history at prediction time (their past only, so nothing leaks)."""

    mean: dict[str, float]
    std: dict[str, float]

    @classmethod
    def fit(cls, frame: pd.DataFrame) -> SeriesScaler:
        stats = frame.groupby("series_id")["value"].agg(["mean", "std"])
        std = stats["std"].fillna(0.0)
        std = std.where(std > 1e-8 * (1 + stats["mean"].abs()), 1.0)
        return cls(stats["mean"].astype(float).to_dict(), std.astype(float).to_dict())

    def arrays(self, frame: pd.DataFrame) -> tuple[np.ndarray, np.ndarray]:
        """Row-aligned mean and std for `frame` (sorted by series), fitting unseen series."""
        unseen = frame[~frame["series_id"].isin(self.mean.keys())]
        extra = SeriesScaler.fit(unseen) if not unseen.empty else SeriesScaler({}, {})
        mean = {**extra.mean, **self.mean}
        std = {**extra.std, **self.std}
        return frame["series_id"].map(mean).to_numpy(), frame["series_id"].map(std).to_numpy()

    def to_json(self) -> dict:
        return {"mean": self.mean, "std": self.std}

    @classmethod
    def from_json(cls, data: dict) -> SeriesScaler:
        mean = {str(k): float(v) for k, v in data["mean"].items()}
        std = {str(k): float(v) for k, v in data["std"].items()}
        if mean.keys() != std.keys() or not all(np.isfinite(list(std.values()))):
            raise ValueError("scaler mean/std must cover the same series with finite numbers")
        return cls(mean, std)


@dataclass
class SeriesTensors:
    """All series back to back: values (N,) scaled float32, time_idx (N,) int64, offsets (S+1,)."""

    series_ids: list[str]
    values: torch.Tensor
    time_idx: torch.Tensor
    offsets: torch.Tensor
    mean: np.ndarray  # (S,) per-series scaler, to undo the scaling
    std: np.ndarray

    @classmethod
    def build(cls, frame: pd.DataFrame, freq: str, scaler: SeriesScaler) -> SeriesTensors:
        """frame: validated, sorted by (series_id, ts), no nulls."""
        mean, std = scaler.arrays(frame)
        scaled = (frame["value"].to_numpy() - mean) / std
        sizes = frame.groupby("series_id", sort=False)["ts"].size()
        offsets = np.concatenate([[0], np.cumsum(sizes.to_numpy())])
        return cls(
            series_ids=[str(s) for s in sizes.index],
            values=torch.from_numpy(scaled.astype("float32")),
            time_idx=torch.from_numpy(time_index(frame["ts"], freq)),
            offsets=torch.from_numpy(offsets.astype("int64")),
            mean=mean[offsets[:-1]],
            std=std[offsets[:-1]],
        )

    @property
    def lengths(self) -> torch.Tensor:
        return self.offsets[1:] - self.offsets[:-1]

    def to(self, device: torch.device) -> SeriesTensors:
        """One transfer of everything; pinned host memory first on CUDA."""

        def move(t: torch.Tensor) -> torch.Tensor:
            if device.type == "cuda":
                return t.pin_memory().to(device, non_blocking=True)
            return t.to(device)

        return SeriesTensors(
            self.series_ids,
            move(self.values),
            move(self.time_idx),
            move(self.offsets),
            self.mean,
            self.std,
        )

    def window_starts(self, length: int, holdout: int = 0) -> torch.Tensor:
        """Flat start of every window of `length` lying inside a series' first len-holdout rows."""
        usable = (self.lengths - holdout - length + 1).clamp(min=0)
        first = torch.repeat_interleave(
            self.offsets[:-1] - torch.cumsum(usable, 0) + usable, usable
        )
        return first + torch.arange(int(usable.sum()))  # one int per window, not the window

    def last_window_starts(self, length: int, holdout: int = 0) -> torch.Tensor:
        """The start of each series' last window of `length` ending `holdout` rows before its
        end (series too short for one give none): the time-based validation split."""
        starts = self.offsets[1:] - holdout - length
        return starts[starts >= self.offsets[:-1]]

    def gather(self, starts: torch.Tensor, encoder: int, horizon: int):
        """(past values (B, encoder), time idx (B, encoder + horizon), future values (B, horizon)).

        Time indices run past a series' end by arithmetic, so forecasting needs no future rows.
        """
        steps = torch.arange(encoder + horizon, device=starts.device)
        positions = starts[:, None] + steps[:encoder]
        past = self.values[positions]
        time_idx = self.time_idx[starts][:, None] + steps
        future_positions = (starts[:, None] + steps[encoder:]).clamp(max=len(self.values) - 1)
        return past, time_idx, self.values[future_positions]


class WindowStarts(IterableDataset):
    """`batches` random batches of window starts per epoch: the loader hands out indices only.

    Under DDP every rank draws its own stream (seed + rank), so ranks see different windows.
    """

    def __init__(self, starts: torch.Tensor, batch_size: int, batches: int, seed: int):
        self.starts, self.batch_size, self.batches, self.seed = starts, batch_size, batches, seed
        self.epoch = 0

    def __len__(self) -> int:
        return self.batches

    def __iter__(self):
        rank = torch.distributed.get_rank() if torch.distributed.is_initialized() else 0
        generator = torch.Generator().manual_seed(self.seed + 1000 * rank + self.epoch)
        self.epoch += 1
        for _ in range(self.batches):
            pick = torch.randint(len(self.starts), (self.batch_size,), generator=generator)
            yield self.starts[pick]
