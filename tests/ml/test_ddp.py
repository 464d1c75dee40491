"""The distributed path: a tensor-path model trained with Lightning DDP over 2 CPU processes
(gloo backend), so the code that runs on several GPUs is exercised on a CPU-only machine."""

from __future__ import annotations

import numpy as np
import pytest

from ml.config import ForecastSpec
from ml.models import create_forecaster, load_forecaster
from ml.synthetic import generate_server_metrics

SPEC = ForecastSpec(horizon=6, freq="h", season_length=24)


@pytest.mark.timeout(120)
def test_lstm_trains_with_ddp_on_two_cpu_processes(tmp_path):
    frame = generate_server_metrics(4, 24 * 5, "healthy", seed=1)
    model = create_forecaster(
        "lstm", "tiny", strategy="ddp_spawn", devices=2, accelerator="cpu", max_epochs=1
    )
    report = model.fit(frame, SPEC)
    assert model.trained_world_size == 2
    assert np.isfinite(report.val_mase)
    forecast = model.predict(frame)
    assert len(forecast) == frame["series_id"].nunique() * SPEC.horizon
    assert forecast[["p10", "p50", "p90"]].notna().all().all()
    model.save(tmp_path / "m")
    again = load_forecaster(tmp_path / "m").predict(frame)
    np.testing.assert_allclose(again["p50"], forecast["p50"], rtol=1e-6)
