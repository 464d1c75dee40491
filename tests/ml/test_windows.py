"""The tensor data path: batches by index arithmetic equal windows sliced one by one, windows
stay inside the training part, and the scaler is fitted on the training part only."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
import torch

from ml.windows import SeriesScaler, SeriesTensors, WindowStarts


@pytest.fixture
def frame() -> pd.DataFrame:
    rng = np.random.default_rng(0)
    parts = []
    for sid, n in (("a", 30), ("b", 9), ("c", 50)):
        ts = pd.date_range("2020-01-01", periods=n, freq="h")
        parts.append(pd.DataFrame({"series_id": sid, "ts": ts, "value": rng.normal(5, 2, n)}))
    return pd.concat(parts, ignore_index=True)


def test_gathered_batches_equal_windows_sliced_one_by_one(frame):
    scaler = SeriesScaler.fit(frame)
    data = SeriesTensors.build(frame, "h", scaler)
    encoder, horizon, holdout = 6, 3, 3
    starts = data.window_starts(encoder + horizon, holdout=holdout)
    past, time_idx, future = data.gather(starts, encoder, horizon)
    expected_past, expected_future = [], []
    for sid, series in frame.groupby("series_id"):
        scaled = (series["value"].to_numpy() - scaler.mean[sid]) / scaler.std[sid]
        for start in range(len(series) - holdout - encoder - horizon + 1):
            expected_past.append(scaled[start : start + encoder])
            expected_future.append(scaled[start + encoder : start + encoder + horizon])
    np.testing.assert_allclose(past.numpy(), np.array(expected_past), rtol=1e-6)
    np.testing.assert_allclose(future.numpy(), np.array(expected_future), rtol=1e-6)
    # 30 and 50 rows give windows; 9 - 3 held out < 9 gives none
    assert len(starts) == (30 - 3 - 9 + 1) + (50 - 3 - 9 + 1)
    assert torch.equal(time_idx[:, 1:] - time_idx[:, :-1], torch.ones(len(starts), 8).long())


def test_scaler_sees_the_training_part_only_and_round_trips_json(frame):
    train = frame.groupby("series_id").head(20)
    scaler = SeriesScaler.fit(train)
    changed = frame.copy()
    changed.loc[changed.groupby("series_id").cumcount() >= 20, "value"] = 1e6
    assert SeriesScaler.fit(changed.groupby("series_id").head(20)) == scaler
    again = SeriesScaler.from_json(scaler.to_json())
    assert again == scaler
    with pytest.raises(ValueError, match="finite"):
        SeriesScaler.from_json({"mean": {"a": 1.0}, "std": {"a": float("nan")}})


def test_loader_yields_start_indices_not_windows():
    starts = torch.arange(100, 200)
    batches = list(WindowStarts(starts, batch_size=16, batches=4, seed=0))
    assert len(batches) == 4 and all(b.shape == (16,) and b.dtype == torch.long for b in batches)
    assert all(((b >= 100) & (b < 200)).all() for b in batches)


def test_validation_windows_follow_the_training_windows(frame):
    """The time-based split: one window per series ending `holdout` rows before its end, and
    no training window (targets excluded for another horizon) reaches into it."""
    data = SeriesTensors.build(frame, "h", SeriesScaler.fit(frame))
    encoder, horizon, holdout = 6, 3, 2
    val = data.last_window_starts(encoder + horizon, holdout=holdout)
    ends = data.offsets[1:]
    # "b" (9 rows) is too short for a window ending 2 rows before its end
    assert val.tolist() == [30 - 2 - 9, 30 + 9 + 50 - 2 - 9]
    train = data.window_starts(encoder + horizon, holdout=holdout + horizon)
    series = torch.bucketize(train, ends, right=True)
    first_val_target = {0: val[0] + encoder, 2: val[1] + encoder}
    for s, start in zip(series.tolist(), train.tolist(), strict=True):
        assert start + encoder + horizon <= first_val_target[s]
