"""What `warecast run` prints is for a person: a line per stage, the leaderboard, the result."""

from __future__ import annotations

from collections import Counter

import pytest

from tests.cli.helpers import warecast

pytestmark = [pytest.mark.e2e, pytest.mark.timeout(900)]

STAGES = ("raw__observations", "ml__backtests", "ml__trained_model", "ml__forecasts")


def test_a_run_prints_one_line_per_stage_and_the_leaderboard(warecast_home):
    models = "seasonal_naive:tiny,auto_theta:tiny,lightgbm:tiny"
    result = warecast(
        "run", "--max-series", "6", "--models", models, "--cutoffs", "1",
        "--model-preset", "tiny", "--no-progress", timeout=800,
    )  # fmt: skip
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-3000:]
    lines = [line for line in (result.stdout + result.stderr).splitlines() if line.strip()]
    done = [line for line in lines if line.lstrip().startswith("done ")]
    for stage in STAGES:
        assert sum(stage in line for line in done) == 1, (stage, done)
    # dbt runs as six steps (features, evaluation marts, hierarchy marts, forecast marts,
    # explanation marts, monitoring marts: Python assets sit between them), plus the Python
    # assets, the checks and the monitors: every step once, nothing else.
    assert len(done) == len(set(done)) and len(done) <= 16, done
    text = "\n".join(lines)
    assert "Leaderboard" in text and "won on mase" in text
    for model in ("seasonal_naive", "auto_theta", "lightgbm"):
        assert f"| {model} |" in text
    assert "forecasts written: 144 rows for 6 series" in text
    repeated = {line: n for line, n in Counter(lines).items() if n > 3 and "|" not in line}
    assert not repeated, repeated
    # dbt's per-node lines and MLflow's INFO logs are in the command's log, not on screen.
    assert not any("START sql" in line or "mlflow.store" in line for line in lines)
    assert len(lines) < 50, "\n".join(lines)
