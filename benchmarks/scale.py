"""Scale benchmark: many hourly series raw -> forecasts in bounded memory, and the Day-N refresh.

    python benchmarks/scale.py                # 10,000 x 8,760 h on DuckDB; Day N 1,000 x 8,760 h
    python benchmarks/scale.py --small        # 20 x 720 h, Day N 10 series: ~4 min, for bench-smoke
    python benchmarks/scale.py --series 1000 --skip-day-n      # one part, another size

Every stage goes through warecast's public paths, in this process (imports and the dbt manifest
are prepared before the clock starts, as in a long-running deployment): the raw asset
(`warecast load`'s path) loads a Parquet file, `dbt build` builds the features, the ml/backtests,
ml/trained_model and ml/forecasts assets run as Dagster materializations (pipeline
server_metrics_hourly: horizon 48, season 24), reading the feature table in batches of series.

1. **Scale, DuckDB**: synthetic hourly data (daily + weekly cycles) -> load -> dbt build ->
   backtest (seasonal_naive + lightgbm, 2 cutoffs) -> champion training -> forecasts for every
   series. Targets: <= 30 min wall, peak memory <= 12 GiB, every series forecast.
2. **Day N, PostgreSQL then DuckDB** (--day-n-series x --hours built on day 0): one new hour for
   every series plus --corrections late rows for old hours, loaded with `mode: append` (when
   the raw asset has it; else the whole table is replaced, and the line says so), then `dbt
   build` (incremental when the models are), forecasts for the changed series; then `dbt build
   --full-refresh` of the same models. Targets: incremental dbt >= 10x faster than the full
   rebuild; on PostgreSQL the whole refresh >= 2x faster than the pandas pipeline of
   benchmarks/io.py that recomputes everything (read_sql -> grid -> features -> arrays).

Prints one line per stage: seconds, peak memory of this process and its children (summed PSS,
benchmarks/scale_support.py) and this process's own peak RSS; then
    FIGURE <name> <value>
    RATIO <name> <value> target>=|<=<x> PASS|MISS
    CHECK <name> PASS|MISS
Nothing is asserted; a MISS is reported, never raised. Recorded runs: docs/benchmarks.md.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO_ROOT))
os.environ.setdefault("NUMPY_MADVISE_HUGEPAGE", "0")  # as benchmarks/io.py, both sides
os.environ["WARECAST_PIPELINE"] = "server_metrics_hourly"

import pyarrow as pa  # noqa: E402
import pyarrow.parquet as pq  # noqa: E402

from benchmarks.scale_support import (  # noqa: E402
    GIB,
    Stages,
    day_n_rows,
    getrusage_peaks,
    ratio_line,
    write_hourly,
)
from benchmarks.servers import start_postgres  # noqa: E402

MODELS = ["seasonal_naive", "lightgbm"]  # small presets; --small: tiny
DAY0_MODELS = ["lightgbm"]  # Day N needs a champion; one candidate keeps day 0 short
FEATURES_SELECT = "+fct_feature_fingerprint"  # the feature mart, its parents and fingerprint


# --- environment and public paths ------------------------------------------------------------
def prepare(root: Path, target: str, duckdb_name: str) -> None:
    home = root / "home"
    home.mkdir(parents=True, exist_ok=True)
    os.environ.update(
        WARECAST_HOME=str(home),
        DAGSTER_HOME=str(home),
        MLFLOW_TRACKING_URI=f"sqlite:///{home / 'mlflow.db'}",
        WARECAST_DUCKDB_PATH=str(root / duckdb_name),
        WARECAST_TARGET=target,
    )


def materialize(defs, keys: list, ops: dict):
    import dagster as dg

    # The assets alone: the dbt source tests Dagster attaches to them as checks would start a
    # dbt build of their own per stage (the ml/forecasts asset's own publication checks run).
    job = defs.resolve_job_def("forecast_pipeline")
    own = {c for k in keys for c in defs.resolve_assets_def(k).check_keys if c.asset_key == k}
    job = job.get_subset(asset_selection=set(keys), asset_check_selection=own)
    result = job.execute_in_process(
        # INFO: the stage lines stay readable; Dagster's per-event DEBUG lines are noise here.
        run_config={"ops": ops, "loggers": {"console": {"config": {"log_level": "INFO"}}}},
        instance=dg.DagsterInstance.ephemeral(),
        raise_on_error=False,
    )
    if not result.success:
        failures = [e for e in result.all_events if e.is_step_failure]
        detail = failures[0].step_failure_data.error.message if failures else "no step failure"
        sys.exit(f"Dagster run of {[k.to_user_string() for k in keys]} failed: {detail}")
    return result


def append_supported() -> bool:
    from orchestration.assets.raw import RawLoadConfig

    return "mode" in RawLoadConfig.model_fields


def load(defs, path: Path, append: bool = False) -> None:
    from orchestration.assets.raw import RAW_KEY

    config = {"dataset": "file", "path": str(path)} | ({"mode": "append"} if append else {})
    materialize(defs, [RAW_KEY], {"raw__observations": {"config": config}})


def dbt_build(target: str, full_refresh: bool = False) -> None:
    """`dbt build` of the feature mart, its parents and the fingerprint: models and data tests.
    Unit tests check the SQL, not the data: CI runs them, a production refresh need not."""
    from orchestration.dbt_models import dbt_vars
    from orchestration.settings import DBT_PROJECT_DIR, PROFILES_DIR

    dbt = Path(sys.executable).with_name("dbt")
    args = [str(dbt), "build", "--select", FEATURES_SELECT, "--target", target, "--quiet"]
    args += ["--exclude-resource-type", "unit_test"]
    args += ["--project-dir", str(DBT_PROJECT_DIR), "--profiles-dir", str(PROFILES_DIR)]
    args += ["--vars", dbt_vars()] + (["--full-refresh"] if full_refresh else [])
    work = Path(os.environ["WARECAST_HOME"]).parent / "dbt_target"  # not the repo's target/
    args += ["--target-path", str(work), "--log-path", str(work / "logs")]
    done = subprocess.run(args, capture_output=True, text=True)
    if done.returncode:
        sys.exit(f"dbt build on {target} failed:\n{done.stdout[-3000:]}{done.stderr[-2000:]}")


def backtest(defs, models: list[str], cutoffs: int) -> None:
    from orchestration.assets.backtest import BACKTESTS_KEY

    ops = {"ml__backtests": {"config": {"models": models, "cutoffs": cutoffs}}}
    materialize(defs, [BACKTESTS_KEY], ops)


def train(defs) -> None:
    from orchestration.assets.ml import TRAINED_KEY

    ops = {"ml__trained_model": {"config": {"progress_bar": False}}}
    materialize(defs, [TRAINED_KEY], ops)


def forecast(defs) -> dict:
    from orchestration.assets.ml import FORECASTS_KEY

    result = materialize(defs, [FORECASTS_KEY], {})
    (event,) = result.asset_materializations_for_node("ml__forecasts")
    return {k: v.value for k, v in event.metadata.items()}


def feature_fingerprint(defs) -> str:
    from orchestration.assets.dbt import FINGERPRINT_MODEL, relation_of

    table = defs.resources["warehouse"].client().read_table(*relation_of(FINGERPRINT_MODEL))
    return str(table.column("content_hash")[0].as_py())


NUMERIC = ("value", "lag_1", "lag_season", "rolling_mean_short", "rolling_std_short")
NUMERIC += ("rolling_mean_season", "rolling_std_season")


def snapshot_features(defs) -> None:
    """A copy of the feature mart as built incrementally, to compare with the full refresh."""
    from orchestration.assets.dbt import FEATURES_MODEL, relation_of

    schema, table = relation_of(FEATURES_MODEL)
    with defs.resources["warehouse"].client().session() as s:
        s.execute("create schema if not exists scale_check")
        s.execute("drop table if exists scale_check.incremental")
        s.execute(f"create table scale_check.incremental as select * from {schema}.{table}")
        s.commit()


def rows_differing(defs, tolerance: float = 1e-9) -> int:
    """Rows of the full refresh missing from the incremental copy (or the reverse), or with a
    feature differing by more than `tolerance` relative, or flags that differ."""
    from orchestration.assets.dbt import FEATURES_MODEL, relation_of

    schema, table = relation_of(FEATURES_MODEL)
    differs = [
        f"((a.{c} is null) <> (b.{c} is null) or abs(a.{c} - b.{c}) > "
        f"{tolerance} * (1 + abs(b.{c})))"
        for c in NUMERIC
    ]
    differs += ["a.is_filled <> b.is_filled", "a.is_outlier <> b.is_outlier"]
    sql = (
        f"select count(*) as n from scale_check.incremental as a full outer join "
        f"{schema}.{table} as b on a.series_id = b.series_id and a.ts = b.ts "
        f"where a.series_id is null or b.series_id is null or {' or '.join(differs)}"
    )
    with defs.resources["warehouse"].client().session() as s:
        return int(s.fetch_arrow(sql).column(0)[0].as_py())


def backtest_seconds(defs) -> dict[str, float]:
    """fit_seconds per model of the newest backtest (ml.backtest_summary)."""
    board = defs.resources["warehouse"].client().read_table("ml", "backtest_summary").to_pandas()
    newest = board[board["created_at"] == board["created_at"].max()]
    return dict(zip(newest["model"], newest["fit_seconds"].astype(float), strict=True))


def forecast_series(defs) -> int:
    client = defs.resources["warehouse"].client()
    summary = client.summarize("ml", "forecasts", count_distinct=["series_id"])
    return int(summary.column("series_id_distinct")[0].as_py())


# --- the two parts ----------------------------------------------------------------------------
def scale_part(args, root: Path, stages: Stages, lines: list[str]) -> None:
    from orchestration.definitions import build_definitions

    prepare(root, "duckdb", "scale.duckdb")
    t = "duckdb"
    path = root / "scale.parquet"
    rows = stages.run(t, "generate Parquet (not timed in total)", write_hourly, path, *args.size)
    print(f"  scale: {args.series:,} series x {args.hours:,} h = {rows:,} raw rows", flush=True)
    defs = build_definitions("duckdb")
    stages.run(t, "load (raw asset, Parquet)", load, defs, path)
    stages.run(t, "dbt build (features)", dbt_build, "duckdb")
    models = [f"{m}:{args.preset}" for m in MODELS]
    stages.run(t, f"backtest {'+'.join(models)}, 2 cutoffs", backtest, defs, models, 2)
    lines += [
        f"FIGURE scale_backtest_{m}_seconds {v:.1f}" for m, v in backtest_seconds(defs).items()
    ]
    stages.run(t, "champion training", train, defs)
    written = stages.run(t, "forecasts (every series)", forecast, defs)
    names = [n for tg, n, _, _ in stages.rows if tg == t and not n.startswith("generate")]
    wall = stages.total(t, names)
    forecast_count = forecast_series(defs)
    lines += [
        f"FIGURE scale_series {args.series}",
        f"FIGURE scale_raw_rows {rows}",
        f"FIGURE scale_wall_seconds {wall:.1f}",
        f"FIGURE scale_cpu_seconds {sum(stages.cpu[t, n] for n in names):.1f}",
        f"FIGURE scale_peak_memory_gib {stages.peak(t) / GIB:.2f}",
        f"FIGURE scale_peak_process_rss_gib {stages.own_peak[t] / GIB:.2f}",
        f"FIGURE scale_forecast_rows {written['dagster/row_count']}",
        ratio_line("scale_wall_minutes", wall / 60, 30, higher_is_better=False),
        ratio_line("scale_peak_memory_gib", stages.peak(t) / GIB, 12, higher_is_better=False),
        f"CHECK every_series_forecast {forecast_count}/{args.series} "
        f"{'PASS' if forecast_count == args.series else 'MISS'}",
    ]


def day_n_part(target: str, args, root: Path, stages: Stages, lines: list[str]) -> None:
    from orchestration.definitions import build_definitions

    prepare(root, target, f"day_n_{target}.duckdb")
    t = f"{target[:8]}"
    history = root / f"day0_{target}.parquet"
    write_hourly(history, args.day_n_series, args.hours, seed=1)
    defs = build_definitions(target)
    stages.run(t, "day 0: load", load, defs, history)
    stages.run(t, "day 0: dbt build", dbt_build, target)
    models = [f"{m}:tiny" for m in DAY0_MODELS]  # day 0's champion; Day N only predicts
    stages.run(t, "day 0: backtest", backtest, defs, models, 1)
    stages.run(t, "day 0: champion training", train, defs)
    stages.run(t, "day 0: forecasts", forecast, defs)

    new = day_n_rows(args.day_n_series, args.hours, args.corrections, seed=1)
    append = append_supported()
    day_n = root / f"day_n_{target}.parquet"
    if append:
        pq.write_table(new, day_n)
    else:  # no append path yet: the whole table, replaced (what a user would have to do)
        pq.write_table(pa.concat_tables([pq.read_table(history), new]), day_n)
    how = "append" if append else "replace: no append path"
    stages.run(t, f"day N: load ({how})", load, defs, day_n, append)
    stages.run(t, "day N: dbt build", dbt_build, target)
    incremental = feature_fingerprint(defs)
    written = stages.run(t, "day N: forecasts (changed series)", forecast, defs)
    snapshot_features(defs)
    stages.run(t, "dbt build --full-refresh", dbt_build, target, True)
    same = feature_fingerprint(defs) == incremental
    differing = rows_differing(defs)
    refresh = stages.total(t, [f"day N: load ({how})", "day N: dbt build"])
    refresh += stages.seconds(t, "day N: forecasts (changed series)")
    dbt_ratio = stages.seconds(t, "dbt build --full-refresh") / stages.seconds(
        t, "day N: dbt build"
    )
    lines += [
        f"FIGURE {target}_day_n_new_rows {new.num_rows}",
        f"FIGURE {target}_day_n_series_refreshed {written['series_refreshed']}",
        f"FIGURE {target}_day_n_refresh_seconds {refresh:.1f}",
        ratio_line(f"dbt_incremental_vs_full_{target}", dbt_ratio, 10),
        f"CHECK {target}_incremental_fingerprint_equals_full_refresh {'PASS' if same else 'MISS'}",
        f"CHECK {target}_incremental_rows_equal_full_refresh_1e-9 {differing} differing "
        f"{'PASS' if differing == 0 else 'MISS'}",
    ]
    if target == "postgres":
        pandas_seconds = stages.run(t, "pandas: read_sql + grid + features", pandas_everything)
        lines.append(f"FIGURE postgres_pandas_recompute_seconds {pandas_seconds:.1f}")
        lines.append(ratio_line("day_n_refresh_postgres_vs_pandas", pandas_seconds / refresh, 2))


def pandas_everything() -> float:
    """benchmarks/io.py's baseline: read_sql of raw, dedupe, hourly grid, features, arrays."""
    import time

    from benchmarks import baselines
    from benchmarks.io import SEASON_LENGTH, SHORT_WINDOW, connection
    from benchmarks.pandas_features import add_features, regularize_hourly

    started = time.perf_counter()
    raw = baselines.read_sql("select * from raw.observations", connection("postgres"))
    features = add_features(regularize_hourly(raw), SHORT_WINDOW, SEASON_LENGTH)
    baselines.arrays_from_pandas(features)
    return time.perf_counter() - started


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--small", action="store_true", help="CI size: 20 x 720 h, Day N 10")
    parser.add_argument("--series", type=int, default=10_000)
    parser.add_argument("--hours", type=int, default=8_760)
    parser.add_argument("--day-n-series", type=int, default=1_000)
    parser.add_argument("--corrections", type=int, default=100)
    parser.add_argument("--preset", default="small", help="model presets (--small: tiny)")
    parser.add_argument("--skip-scale", action="store_true")
    parser.add_argument("--skip-day-n", action="store_true")
    parser.add_argument("--skip-postgres", action="store_true")
    args = parser.parse_args(argv)
    if args.small:
        args.series, args.hours, args.day_n_series, args.corrections = 20, 720, 10, 3
        args.preset = "tiny"
    args.size = (args.series, args.hours)
    root = Path(tempfile.mkdtemp(prefix="warecast-scale-"))
    stages, lines, server = Stages(), [], None
    prepare(root, "duckdb", "scale.duckdb")  # before any warecast import reads the environment
    import orchestration.definitions  # noqa: F401 - imports and the dbt manifest, untimed

    try:
        if not args.skip_scale:
            scale_part(args, root, stages, lines)
        if not args.skip_day_n:
            if not args.skip_postgres:
                server = start_postgres("scale")
                day_n_part("postgres", args, root, stages, lines)
            day_n_part("duckdb", args, root, stages, lines)
    finally:
        if server is not None:
            server.destroy()
        shutil.rmtree(root, ignore_errors=True)
    own, child = getrusage_peaks()
    print(f"\ngetrusage max RSS: this process {own:.2f} GiB, largest child {child:.2f} GiB")
    print("\n".join(["", *lines]))
    print(json.dumps({"stages": [(*r[:3], round(r[3] / GIB, 3)) for r in stages.rows]}))
    return 0


if __name__ == "__main__":
    sys.exit(main())
