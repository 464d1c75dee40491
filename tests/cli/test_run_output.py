"""What `warecast run` prints is for a person: a line per stage, the leaderboard, the result."""

from __future__ import annotations

import re
from collections import Counter

import pytest

from orchestration.cli.jobs import STAGE_WIDTH
from tests.cli.helpers import warecast

pytestmark = [pytest.mark.e2e, pytest.mark.timeout(900)]

STAGES = ("raw/observations", "ml/backtests", "ml/trained_model", "ml/forecasts")


def test_a_run_prints_one_line_per_stage_and_the_leaderboard(warecast_home):
    models = "seasonal_naive:tiny,auto_theta:tiny,lightgbm:tiny"
    result = warecast(
        "run", "--max-series", "6", "--models", models, "--cutoffs", "1",
        "--model-preset", "tiny", "--no-progress", timeout=800,
    )  # fmt: skip
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-3000:]
    lines = [line for line in (result.stdout + result.stderr).splitlines() if line.strip()]
    done = [line for line in lines if line.lstrip().startswith("done ")]
    names = [line.lstrip()[len("done  ") :][:STAGE_WIDTH].rstrip() for line in done]
    for stage in STAGES:
        assert names.count(stage) == 1, (stage, done)
    # dbt runs as several steps (Python assets sit between its models), each named by the dbt
    # folders it built, never by Dagster's step key (warecast_dbt_models_2, ml__forecasts).
    assert not any(re.search(r"warecast_dbt_models|\b[a-z]+__[a-z_]+\b", n) for n in names), done
    dbt = [n for n in names if n.startswith("dbt: ")]
    counts = r"\((\d+ models?|\d+ seeds?)(, \d+ seeds?)?\)$"
    assert len(dbt) >= 2 and all(re.search(counts, n) for n in dbt), done
    # A step is named by the layers it built, upstream first; the staging views that feed a
    # step's marts are not named beside them.
    assert any(n.startswith("dbt: intermediate, features") for n in dbt), done
    assert any("monitoring" in n for n in dbt), done
    assert any(n.startswith("dbt: evaluation (") for n in dbt), done
    assert not any("staging," in n for n in dbt), done
    # Plus the Python assets, the checks and the monitors: every step once, nothing else.
    assert len(done) == len(set(done)) and len(done) <= 16, done
    text = "\n".join(lines)
    assert "Leaderboard" in text and "won on mase" in text
    for model in ("seasonal_naive", "auto_theta", "lightgbm"):
        assert f"| {model} |" in text
    assert "forecasts written: 144 rows for 6 series" in text
    # A link to MLflow's runs table, where the backtest's models are child runs side by side.
    assert re.search(r"http://127\.0\.0\.1:5000/#/experiments/\d+/runs\b", text), text[-800:]
    repeated = {line: n for line, n in Counter(lines).items() if n > 3 and "|" not in line}
    assert not repeated, repeated
    # dbt's per-node lines and MLflow's INFO logs are in the command's log, not on screen.
    assert not any("START sql" in line or "mlflow.store" in line for line in lines)
    assert len(lines) < 50, "\n".join(lines)


def test_the_forecasts_line_says_which_series_kept_their_rows():
    """A re-run on unchanged data writes no rows; the summary says why, not just "0 rows"."""
    from orchestration.summary import forecasts_line

    rerun = {"dagster/row_count": 0, "series": 152, "series_refreshed": 0, "series_kept": 152}
    rerun["table"] = "ml.forecasts"
    assert forecasts_line(rerun) == (
        "forecasts written: 0 rows for 0 series into ml.forecasts; "
        "152 series kept their forecasts (features and champion unchanged)"
    )
    first = {**rerun, "dagster/row_count": 3648, "series_refreshed": 152, "series_kept": 0}
    assert forecasts_line(first) == "forecasts written: 3648 rows for 152 series into ml.forecasts"
