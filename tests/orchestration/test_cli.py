"""`warecast load` through the real Dagster job into a real DuckDB file."""

from __future__ import annotations

import pandas as pd

from orchestration.cli import main
from orchestration.settings import PROFILES_DIR
from orchestration.warehouse import Warehouse
from orchestration.warehouse.profiles import load_target


def _raw() -> pd.DataFrame:
    client = Warehouse.from_profile(load_target(PROFILES_DIR, "duckdb"))
    return client.read_table("raw", "observations").to_pandas()


def _load(path) -> int:
    return main(
        [
            "load", str(path), "--series-id", "store", "--timestamp", "day", "--value", "sales",
            "--covariates", "price", "--delimiter", ";", "--target", "duckdb",
        ]
    )  # fmt: skip


def test_load_csv_with_named_columns(warecast_home, tmp_path, capsys):
    path = tmp_path / "sales.csv"
    # "10,5" is not a number: the load fails, names the problem, and writes nothing.
    path.write_text("store;day;sales;price\nA;2024-01-01;10,5;1\nB;2024-01-02;7;2\n")
    assert _load(path) == 2
    assert "non-numeric" in capsys.readouterr().err

    path.write_text("store;day;sales;price\nA;2024-01-01;10.5;1\nB;2024-01-02;7;2\n")
    assert _load(path) == 0
    raw = _raw()
    assert sorted(raw["series_id"]) == ["A", "B"]
    assert set(raw.columns) == {"series_id", "ts", "value", "price", "loaded_at"}
    assert "Next: warecast run --dataset current" in capsys.readouterr().out


def test_load_missing_column_keeps_previous_raw(warecast_home, tmp_path, capsys):
    good = tmp_path / "good.csv"
    good.write_text("series_id,ts,value\nA,2024-01-01,1\n")
    assert main(["load", str(good)]) == 0
    bad = tmp_path / "bad.csv"
    bad.write_text("id,ts,value\nZ,2024-01-01,1\n")
    assert main(["load", str(bad)]) == 2
    assert "--series-id" in capsys.readouterr().err
    assert _raw()["series_id"].tolist() == ["A"]


def test_run_flags_reach_the_backtest_and_training_steps():
    from orchestration.cli import _parser, _run_config

    args = _parser().parse_args(
        ["run", "--models", "seasonal_naive, tft:tiny", "--cutoffs", "1", "--model-preset", "tiny"]
    )
    ops = _run_config(args)["ops"]
    expected = {"models": ["seasonal_naive", "tft:tiny"], "cutoffs": 1}
    assert ops["ml__backtests"]["config"] == expected
    assert ops["ml__trained_model"]["config"]["model_preset"] == "tiny"
    assert _run_config(_parser().parse_args(["run"]))["ops"]["ml__backtests"]["config"] == {}
