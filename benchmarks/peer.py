"""Peer benchmark: warecast against the notebook a data scientist would write, on the same data.

    python benchmarks/peer.py                 # hourly 1,000 x 8,760 h, then the demo's 152
    python benchmarks/peer.py --small         # 20 x 1,008 h, 12 demo series, tiny presets
    python benchmarks/peer.py --series 50 --hours 2000 --dataset hourly

The peer (`peer_pipeline`): pandas reads the Parquet file, statsforecast's
SeasonalNaive and mlforecast's LGBMRegressor (objective l1, 300 rounds; lags and rolling
statistics of lag 1, calendar features; recursive) are backtested with `cross_validation`, the
LightGBM is trained on each series' recent history and both forecast every series. Hourly: lags
1/24/168, rolling mean/std 6 and 168, hour and day of week, the last --peer-history (800) hours.
Demo (aus_retail, monthly): lags 1/12/24, rolling mean/std 3 and 12, month, all the history.

warecast's path is benchmarks/scale.py's, stage for stage (the raw asset loads the same Parquet
file, `dbt build`, the ml/backtests, ml/trained_model and ml/forecasts assets as Dagster
materializations): pipeline server_metrics_hourly (horizon 48, season 24, step 48) or aus_retail
(horizon 24, season 12, step 12), 2 cutoffs, seasonal naive + LightGBM.

One scoring function (`Scorer`) scores both: the cutoffs are ml/backtest.py's `cutoff_dates`
(last_ts - horizon - k * step), the actuals and each series' MASE scale come from
`ml.backtest.backtest_window` on the raw Parquet (the in-sample seasonal-naive MAE of the
series' whole history up to the cutoff), the errors from ml/evaluation.py. Only the (series,
cutoff, hour) points both scored count; warecast's forecasts are read back from
ml.backtest_points, and its own MASE (ml.backtest_summary) is printed beside the rescored one.
Prints the stage lines of benchmarks/scale.py, then
    STAGE <who> <dataset>.<stage> <seconds>
    FIGURE <who> <dataset>.<model> mase=<x> [warecast_mase=<x>] points=<n>
    RATIO <name> <value> target<=<x> PASS|MISS
    CHECK <name> ... PASS|MISS
Nothing is asserted; a MISS is reported, never raised. Needs the `bench` extra (mlforecast).
Recorded runs: docs/benchmarks.md, "Against the notebook".
"""

from __future__ import annotations

import argparse
import os
import shutil
import sys
import tempfile
from dataclasses import dataclass, replace
from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO_ROOT))

import pandas as pd  # noqa: E402

from benchmarks import scale  # noqa: E402  (sets WARECAST_PIPELINE; each part sets its own)
from benchmarks.scale_support import Stages, write_hourly  # noqa: E402


@dataclass(frozen=True)
class Setup:
    """One data set: warecast's pipeline and the peer's equivalent settings."""

    name: str
    pipeline: str
    freq: str
    horizon: int
    season: int
    step: int
    lags: tuple[int, ...]
    rolling: tuple[int, ...]  # rolling mean and std of lag 1 over these windows
    date_features: tuple[str, ...]
    history: int | None  # the peer's LightGBM sees each series' last `history` periods
    cutoffs: int = 2


HOURLY = Setup("hourly", "server_metrics_hourly", "h", 48, 24, 48, (1, 24, 168), (6, 168),
               ("hour", "dayofweek"), 800)  # fmt: skip
DEMO = Setup("demo", "aus_retail", "MS", 24, 12, 12, (1, 12, 24), (3, 12), ("month",), None)
WARECAST_MODELS = ["seasonal_naive", "lightgbm"]
PEER_NAMES = {"SeasonalNaive": "seasonal_naive", "lightgbm": "lightgbm"}
# What "beats the notebook" means: warecast's champion at least as accurate as the peer's
# LightGBM, its whole run at most twice the peer's wall time, its backtests 1.5x.
TARGETS = {"champion": 1.0, "wall": 2.0, "backtest": 1.5}  # x the peer's
DEMO_LIGHTGBM_MASE = 1.268


# --- the peer: what a data scientist writes --------------------------------------------------
def peer_pipeline(
    path: Path, s: Setup, stage, threads: int | None = None
) -> tuple[pd.DataFrame, pd.DataFrame]:
    """pandas + statsforecast + mlforecast, Parquet -> backtests -> training -> forecasts.
    `stage(name, fn, *args)` times each step; `threads`: LightGBM's (None: every core).
    Returns (the cross-validation frame, the forecasts)."""
    from lightgbm import LGBMRegressor
    from mlforecast import MLForecast
    from mlforecast.lag_transforms import RollingMean, RollingStd
    from statsforecast import StatsForecast
    from statsforecast.models import SeasonalNaive

    def read() -> pd.DataFrame:
        df = pd.read_parquet(path, columns=["series_id", "ts", "value"])
        return df.rename(columns={"series_id": "unique_id", "ts": "ds", "value": "y"})

    df = stage("read", read)
    sf = StatsForecast(models=[SeasonalNaive(season_length=s.season)], freq=s.freq)
    lgbm = LGBMRegressor(objective="l1", n_estimators=300, n_jobs=threads, verbosity=-1)
    mlf = MLForecast(
        models={"lightgbm": lgbm},
        freq=s.freq,
        lags=list(s.lags),
        lag_transforms={1: [f(w) for w in s.rolling for f in (RollingMean, RollingStd)]},
        date_features=list(s.date_features),
    )
    windows = {"h": s.horizon, "n_windows": s.cutoffs, "step_size": s.step}
    back = s.cutoffs * s.step  # each cutoff's LightGBM sees about `history` periods

    def backtests() -> pd.DataFrame:
        # Series too short for every window are left out, as mlforecast demands.
        shortest = s.horizon + back + max(s.lags) + max(s.rolling)
        long = df.groupby("unique_id").filter(lambda g: len(g) > shortest)
        naive = sf.cross_validation(df=long, **windows)
        recent = long.groupby("unique_id").tail(s.history + back) if s.history else long
        boosted = mlf.cross_validation(df=recent, **windows)
        return naive.merge(boosted.drop(columns="y"), on=["unique_id", "ds", "cutoff"])

    def training() -> None:
        mlf.fit(df.groupby("unique_id").tail(s.history) if s.history else df)

    cv = stage("backtests", backtests)
    stage("training", training)

    def forecast() -> pd.DataFrame:
        naive = sf.forecast(df=df, h=s.horizon)
        return naive.merge(mlf.predict(s.horizon), on=["unique_id", "ds"])

    return cv, stage("forecast", forecast)


# --- one scoring for both --------------------------------------------------------------------
class Scorer:
    """MASE per model of long points (model, cutoff, series_id, target_ts, forecast): actuals
    and scales from ml.backtest.backtest_window at ml.backtest.cutoff_dates' cutoffs, errors
    from ml.evaluation (what warecast's backtest does), on the raw data both pipelines read."""

    def __init__(self, raw: pd.DataFrame, s: Setup):
        from ml.backtest import BacktestConfig, backtest_window, cutoff_dates
        from ml.config import ForecastSpec

        spec = ForecastSpec(horizon=s.horizon, freq=s.freq, season_length=s.season)
        config = BacktestConfig(cutoffs=s.cutoffs, step=s.step)
        self.cutoffs = cutoff_dates(raw["ts"].max(), spec, config)
        self.windows = {c: backtest_window(raw, c, spec) for c in self.cutoffs}

    def score(self, points: pd.DataFrame) -> pd.DataFrame:
        """The points at the shared cutoffs with an actual and a scale, and their error terms."""
        from ml.evaluation import score_points

        points = normalized(points, ["cutoff", "target_ts"])
        parts = []
        for cutoff, window in self.windows.items():
            at = points[points["cutoff"] == cutoff]
            at = at.merge(normalized(window.actuals, ["target_ts"]), on=["series_id", "target_ts"])
            parts.append(at.assign(scale=at["series_id"].map(window.scale)))
        scored = pd.concat(parts, ignore_index=True)
        f = scored["forecast"]
        return scored.join(score_points(scored.assign(p10=f, p50=f, p90=f)))

    @staticmethod
    def mase(scored: pd.DataFrame) -> dict[str, tuple[float, int]]:
        """{model: (MASE, points scored)} of score()'s rows."""
        from ml.evaluation import summarize_scores

        return {
            model: (summarize_scores(rows)["mase"], len(rows))
            for model, rows in scored.groupby("model")
        }


def normalized(frame: pd.DataFrame, times: list[str]) -> pd.DataFrame:
    return frame.astype({"series_id": str, **{c: "datetime64[ns]" for c in times}})


def peer_points(cv: pd.DataFrame) -> pd.DataFrame:
    long = cv.melt(["unique_id", "ds", "cutoff"], list(PEER_NAMES), "model", "forecast")
    long["model"] = long["model"].map(PEER_NAMES)
    return long.rename(columns={"unique_id": "series_id", "ds": "target_ts"})


def warecast_points(defs) -> tuple[pd.DataFrame, pd.DataFrame]:
    """(ml.backtest_points of the newest backtest as long points, its ml.backtest_summary)."""
    client = defs.resources["warehouse"].client()
    board = client.read_table("ml", "backtest_summary").to_pandas()
    board = board[board["created_at"] == board["created_at"].max()]
    points = client.read_table("ml", "backtest_points").to_pandas()
    points = points[points["backtest_run_id"] == board["backtest_run_id"].iloc[0]]
    points = points[["model", "cutoff", "series_id", "target_ts", "p50"]]
    return points.rename(columns={"p50": "forecast"}), board


# --- the two paths on one data set -----------------------------------------------------------
def compare(
    s: Setup, path: Path, root: Path, models: list[str], stages: Stages, threads: int | None
) -> list[str]:
    from orchestration.definitions import build_definitions

    raw = normalized(pd.read_parquet(path, columns=["series_id", "ts", "value"]), ["ts"])
    n_series = raw["series_id"].nunique()
    print(f"  {s.name}: {n_series:,} series, {len(raw):,} rows", flush=True)
    scorer = Scorer(raw, s)

    peer_who = f"{s.name}:peer"

    def timed(name, fn, *args):
        return stages.run(peer_who, name, fn, *args)

    cv, forecasts = peer_pipeline(path, s, timed, threads)
    peer_stages = ["read", "backtests", "training", "forecast"]

    os.environ["WARECAST_PIPELINE"] = s.pipeline
    scale.prepare(root / s.name, "duckdb", f"{s.name}.duckdb")
    defs = build_definitions("duckdb")
    who = f"{s.name}:warecast"
    named = {
        "load": ("load (raw asset, Parquet)", scale.load, defs, path),
        "dbt_build": ("dbt build (features)", scale.dbt_build, "duckdb"),
        "backtest": (f"backtest {'+'.join(models)}", scale.backtest, defs, models, s.cutoffs),
        "training": ("champion training", scale.train, defs),
        "forecasts": ("forecasts (every series)", scale.forecast, defs),
    }
    for name, fn, *args in named.values():
        stages.run(who, name, fn, *args)
    points, board = warecast_points(defs)
    forecast_series = scale.forecast_series(defs)

    peer_wall = stages.total(peer_who, peer_stages)
    wall = stages.total(who, [v[0] for v in named.values()])
    lines = [f"STAGE peer {s.name}.{n} {stages.seconds(peer_who, n):.2f}" for n in peer_stages]
    lines.append(f"STAGE peer {s.name}.wall {peer_wall:.2f}")
    lines += [
        f"STAGE warecast {s.name}.{k} {stages.seconds(who, v[0]):.2f}" for k, v in named.items()
    ]
    lines.append(f"STAGE warecast {s.name}.wall {wall:.2f}")

    scored = {"peer": scorer.score(peer_points(cv)), "warecast": scorer.score(points)}
    theirs, ours = both_scored(scored["peer"], scored["warecast"])
    peer_scores, scores = scorer.mase(theirs), scorer.mase(ours)
    own = dict(zip(board["model"], board["mase"].astype(float), strict=True))
    fit = dict(zip(board["model"], board["fit_seconds"].astype(float), strict=True))
    for model, (value, n) in peer_scores.items():
        lines.append(f"FIGURE peer {s.name}.{model} mase={value:.4f} points={n}")
    for model, (value, n) in scores.items():
        lines.append(
            f"FIGURE warecast {s.name}.{model} mase={value:.4f} warecast_mase={own[model]:.4f} "
            f"points={n} fit_seconds={fit[model]:.1f}"
        )
    champion = str(board.loc[board["is_champion"], "model"].iloc[0])
    lines.append(f"FIGURE warecast {s.name}.champion {champion}")
    lines += checks(s.name, scorer, points, scored, len(ours), scorer.mase(scored["warecast"]), own)
    served = (forecast_series, forecasts["unique_id"].nunique())
    lines.append(
        f"CHECK {s.name}_every_series_forecast warecast {served[0]}/{n_series} peer "
        f"{served[1]}/{n_series} {'PASS' if served == (n_series, n_series) else 'MISS'}"
    )

    backtest = stages.seconds(who, named["backtest"][0]) / stages.seconds(peer_who, "backtests")
    prefix = "" if s.name == HOURLY.name else f"{s.name}_"  # hourly lines keep their names
    champion_ratio = scores[champion][0] / peer_scores["lightgbm"][0]
    lines += [
        ratio(f"{prefix}champion_mase_vs_peer_lightgbm", champion_ratio, TARGETS["champion"]),
        ratio(f"{prefix}wall_vs_peer", wall / peer_wall, TARGETS["wall"]),
        ratio(f"{prefix}backtest_vs_peer_backtests", backtest, TARGETS["backtest"]),
    ]
    if s.name == DEMO.name:
        lines.append(ratio("demo_lightgbm_mase", scores["lightgbm"][0], DEMO_LIGHTGBM_MASE))
    return lines


def both_scored(theirs: pd.DataFrame, ours: pd.DataFrame) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Only the (model, cutoff, series, hour) points both pipelines scored: the peer leaves out
    series too short for its cross-validation, which warecast scores with its fallback."""
    keys = ["model", "cutoff", "series_id", "target_ts"]
    common = theirs[keys].merge(ours[keys])
    return theirs.merge(common), ours.merge(common)


def checks(name, scorer, points, scored, common, rescored, own) -> list[str]:
    """Both scored on the same points at cutoff_dates' cutoffs (`common` of each's); the
    rescoring of all warecast's points agrees with its own MASE (ml.backtest_summary)."""
    written = [pd.Timestamp(c) for c in sorted(points["cutoff"].unique())]
    agree = all(abs(rescored[m][0] - own[m]) <= 1e-6 * max(1.0, own[m]) for m in rescored)
    counts = {who: len(frame) for who, frame in scored.items()}
    same = counts["peer"] == counts["warecast"] == common
    verdict = {True: "PASS", False: "MISS"}
    return [
        f"CHECK {name}_warecast_cutoffs_are_cutoff_dates {verdict[written == scorer.cutoffs]}",
        f"CHECK {name}_same_points_scored {common} of warecast {counts['warecast']} peer "
        f"{counts['peer']} {verdict[same]}",
        f"CHECK {name}_rescored_mase_equals_warecast_summary {verdict[agree]}",
    ]


def ratio(name: str, value: float, target: float) -> str:
    return f"RATIO {name} {value:.3f} target<={target:g} {'PASS' if value <= target else 'MISS'}"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--dataset", choices=["hourly", "demo", "both"], default="both")
    parser.add_argument("--series", type=int, default=1_000, help="hourly series")
    parser.add_argument("--hours", type=int, default=8_760, help="hours per hourly series")
    parser.add_argument("--demo-series", type=int, default=None, help="first N demo series")
    parser.add_argument("--peer-history", type=int, default=HOURLY.history,
                        help="hours of each series the peer's LightGBM trains on")  # fmt: skip
    parser.add_argument("--preset", default="small", help="warecast's model presets")
    parser.add_argument("--peer-threads", type=int, default=None,
                        help="the peer's LightGBM threads (default: every core, as warecast's "
                        "small preset; --small: 1, as the tiny preset)")  # fmt: skip
    parser.add_argument("--small", action="store_true",
                        help="smoke: 20 x 1,008 h, 12 demo series, tiny presets")  # fmt: skip
    args = parser.parse_args(argv)
    if args.small:
        args.series, args.hours, args.demo_series, args.preset = 20, 24 * 7 * 6, 12, "tiny"
        args.peer_threads = args.peer_threads or 1
    root = Path(tempfile.mkdtemp(prefix="warecast-peer-"))
    scale.prepare(root, "duckdb", "peer.duckdb")  # before any warecast import reads it
    import orchestration.definitions  # noqa: F401 - imports and the dbt manifest, untimed

    stages, lines = Stages(), []
    try:
        if args.dataset in ("hourly", "both"):
            setup = replace(HOURLY, history=args.peer_history)
            path = root / "hourly.parquet"
            write_hourly(path, args.series, args.hours)  # scale.py's data, not timed
            models = pipeline_entries(args.preset)
            lines += report(compare(setup, path, root, models, stages, args.peer_threads))
        if args.dataset in ("demo", "both"):
            from orchestration.sources import demo_frame

            path = root / "demo.parquet"
            frame = demo_frame("aus_retail", args.demo_series)[["series_id", "ts", "value"]]
            frame.astype({"series_id": str}).to_parquet(path, index=False)
            models = pipeline_entries(args.preset)
            lines += report(compare(DEMO, path, root, models, stages, args.peer_threads))
    finally:
        shutil.rmtree(root, ignore_errors=True)
    print("\n".join(["", "All lines again:", *lines]), flush=True)
    return 0


def pipeline_entries(preset: str) -> list[str]:
    """The pipeline's own model entries (hourly LightGBM: refit false; demo: train_history 120)
    for the default preset; any other (--small: tiny) replaces them with that bare preset."""
    return [m if preset == "small" else f"{m}:{preset}" for m in WARECAST_MODELS]


def report(lines: list[str]) -> list[str]:
    """Print a data set's lines as soon as they exist (a later one may fail or be cut short)."""
    print("\n".join(["", *lines]), flush=True)
    return lines


if __name__ == "__main__":
    sys.exit(main())
