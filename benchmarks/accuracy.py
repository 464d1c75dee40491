"""Accuracy benchmark: the pipeline's backtest, every family's MASE and coverage, the champion.

    python benchmarks/accuracy.py                              # aus_retail, pipelines.yaml models
    python benchmarks/accuracy.py --pipeline server_metrics_hourly
    python benchmarks/accuracy.py --models auto_ets,lightgbm,lstm:small
    python benchmarks/accuracy.py --small                      # 12 series, tiny presets (CI smoke)
    python benchmarks/accuracy.py --dataset m1_monthly         # short histories: M1, the user path
    python benchmarks/accuracy.py --dataset short_monthly      # 300 generated short series

--dataset runs benchmarks/short_history.py with the other arguments (its docstring says how).

The features are the real dbt models (`dbt build --select +fct_training_features` on a DuckDB
file of its own, with the pipeline's dbt vars), cached as Parquet under .warecast/bench/ and
rebuilt with --refresh-features. The backtest is ml.backtest.run_backtest with the pipeline's
settings, the candidates built exactly as the ml/backtests asset builds them. Prints a table,
then machine-readable lines:
    FIGURE <model> mase=<x> coverage_80=<x> pinball_mean=<x> fit_seconds=<x>
    RATIO <name> <value> target<=<target> PASS|MISS
    CHECK champion_coverage_80 <value> target=0.75..0.85 PASS|MISS
Nothing is asserted: a MISS is reported, never raised. Recorded runs: docs/evaluation.md.
"""

from __future__ import annotations

import argparse
import json
import logging
import os
import subprocess
import sys
import time
from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO_ROOT))

import pandas as pd  # noqa: E402
import pyarrow as pa  # noqa: E402

# The champion and the statistical baseline it is measured against, per pipeline, with targets
# from the accuracy issue: a champion at or under 1.31 MASE on aus_retail (AutoETS: 1.384).
BASELINES = {"aus_retail": "auto_ets", "server_metrics_hourly": "mstl"}
CHAMPION_TARGET = {"aus_retail": 1.31 / 1.384, "server_metrics_hourly": 1.0}
NEURAL = ("mlp", "tft", "deepar", "nhits", "lstm", "informer")


def features(
    pipeline, small: bool, refresh: bool, raw: pd.DataFrame | None = None, tag: str | None = None
) -> pd.DataFrame:
    """marts.fct_training_features for the pipeline's data set (or `raw`), built by dbt, cached."""
    from orchestration.settings import DBT_PROJECT_DIR, PROFILES_DIR
    from orchestration.sources import demo_frame
    from orchestration.warehouse import Warehouse
    from orchestration.warehouse.profiles import load_target

    folder = REPO_ROOT / ".warecast" / "bench"
    folder.mkdir(parents=True, exist_ok=True)
    tag = f"{tag or pipeline.name}{'_small' if small else ''}"
    cache = folder / f"features_{tag}.parquet"
    if cache.exists() and not refresh:
        return pd.read_parquet(cache)
    database = folder / f"accuracy_{tag}.duckdb"
    database.unlink(missing_ok=True)
    os.environ["WARECAST_DUCKDB_PATH"] = str(database)
    client = Warehouse.from_profile(load_target(PROFILES_DIR, "duckdb"))
    if raw is None:
        raw = demo_frame(pipeline.dataset, 12 if small else None)
    client.replace_table("raw", "observations", pa.Table.from_pandas(raw, preserve_index=False))
    dbt = Path(sys.executable).with_name("dbt")
    command = [str(dbt), "build", "--profiles-dir", str(PROFILES_DIR), "--target", "duckdb"]
    command += ["--select", "+fct_training_features", "--vars", json.dumps(pipeline.dbt_vars)]
    command += ["--target-path", str(folder / "target"), "--log-path", str(folder / "logs")]
    done = subprocess.run(command, cwd=DBT_PROJECT_DIR, capture_output=True, text=True)
    if done.returncode != 0:
        sys.exit(f"dbt build failed:\n{done.stdout[-4000:]}{done.stderr[-2000:]}")
    frame = client.read_table("marts", "fct_training_features").to_pandas()
    frame.to_parquet(cache)
    return frame


def choices(pipeline, models: str | None, small: bool) -> list:
    from ml.backtest import ModelChoice

    if not models:
        picked = list(pipeline.models)
    else:
        picked = []
        for entry in models.split(","):
            name, _, preset = entry.strip().partition(":")
            own = next((m for m in pipeline.models if m.name == name), None)
            base = own or ModelChoice(name=name)
            picked.append(base.model_copy(update={"preset": preset or base.preset}))
    return [tiny(c) for c in picked] if small else picked


def tiny(choice):
    """The entry at its tiny preset, an ensemble's members too (so they stay the candidates'
    twins, whose backtest fits the ensemble combines)."""
    overrides = dict(choice.overrides)
    if "members" in overrides:
        overrides["members"] = [{**dict(m), "preset": "tiny"} for m in overrides["members"]]
    return choice.model_copy(update={"preset": "tiny", "overrides": overrides})


def main() -> None:
    if "--dataset" in sys.argv[1:] or any(a.startswith("--dataset=") for a in sys.argv[1:]):
        # Short histories through the user path: a sibling script, same arguments.
        script = Path(__file__).with_name("short_history.py")
        sys.exit(subprocess.call([sys.executable, str(script), *sys.argv[1:]]))
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--pipeline", default="aus_retail")
    parser.add_argument("--models", help="comma-separated name[:preset]; default: pipelines.yaml")
    parser.add_argument("--cutoffs", type=int, help="override backtest.cutoffs")
    parser.add_argument("--small", action="store_true", help="12 series, tiny presets")
    parser.add_argument("--refresh-features", action="store_true")
    args = parser.parse_args()
    # A line per fit from the backtest; other libraries (Lightning's device lines) stay quiet.
    logging.basicConfig(level=logging.WARNING, format="%(message)s", force=True)
    logging.getLogger("ml.backtest").setLevel(logging.INFO)

    from ml.backtest import run_backtest
    from ml.selection import select_champion
    from orchestration.assets.backtest import candidates
    from orchestration.settings import load_pipeline

    pipeline = load_pipeline(args.pipeline)
    settings = pipeline.backtest
    if args.cutoffs:
        settings = settings.model_copy(update={"cutoffs": args.cutoffs})
    spec = pipeline.forecast_spec()  # a run's own: its declared seasons and dbt windows
    started = time.perf_counter()
    frame = features(pipeline, args.small, args.refresh_features)
    print(f"features: {len(frame):,} rows, {frame['series_id'].nunique()} series", flush=True)
    chosen = candidates(
        choices(pipeline, args.models, args.small), settings.max_history_statistical
    )
    result = run_backtest(frame, spec, chosen, settings)
    selection = select_champion(result.summary, settings.metric)
    board = selection.leaderboard
    print(f"\nbacktest: {time.perf_counter() - started:.0f} s, cutoffs {result.cutoffs}")
    columns = ["rank", "model", "preset", "mase", "coverage_80", "pinball_mean", "fit_seconds"]
    print(board[columns].to_string(index=False, float_format=lambda v: f"{v:.3f}"))
    print(f"\n{selection.reason}\n")
    report(pipeline.name, board, selection.champion)


def report(pipeline: str, board: pd.DataFrame, champion: str) -> None:
    mase = board.set_index("model")["mase"]
    for row in board.itertuples():
        print(
            f"FIGURE {row.model} mase={row.mase:.4f} coverage_80={row.coverage_80:.4f} "
            f"pinball_mean={row.pinball_mean:.4f} fit_seconds={row.fit_seconds:.1f}"
        )
    baseline = BASELINES.get(pipeline)
    if baseline in mase:
        _ratio(
            f"champion_vs_{baseline}", mase[champion] / mase[baseline], CHAMPION_TARGET[pipeline]
        )
        if "lightgbm" in mase:
            _ratio(f"lightgbm_vs_{baseline}", mase["lightgbm"] / mase[baseline], 1.0)
        neural = [m for m in mase.index if m in NEURAL]
        if neural:
            best = min(neural, key=lambda m: mase[m])
            _ratio(f"best_neural_{best}_vs_{baseline}", mase[best] / mase[baseline], 1.0)
    coverage = float(board.loc[board["model"] == champion, "coverage_80"].iloc[0])
    verdict = "PASS" if 0.75 <= coverage <= 0.85 else "MISS"
    print(f"CHECK champion_coverage_80 {coverage:.4f} target=0.75..0.85 {verdict}")


def _ratio(name: str, value: float, target: float) -> None:
    verdict = "PASS" if value <= target else "MISS"
    print(f"RATIO {name} {value:.4f} target<={target:.4f} {verdict}")


if __name__ == "__main__":
    main()
