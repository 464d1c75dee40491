"""Warehouse I/O benchmark: warecast's paths vs the usual ones, measured side by side in one run.

    python benchmarks/io.py            # 1,000 series x 8,760 hourly rows (8.76M), ~11 min idle
    python benchmarks/io.py --small    # 20 x 600: keeps the script working in CI, timings noise

Starts its own throwaway PostgreSQL server (tests/pg_server.py) and DuckDB file, loads the same
synthetic raw table into both, builds the features with the real dbt model (dbt run), checks
they agree with pandas within 1e-6 relative, then times:
  feature build     the dbt model's compiled SQL vs pandas (DuckDB) / vs one frame per statistic
                    (PostgreSQL)
  end to end        raw table -> training arrays: dbt run + bulk read vs read_sql + pandas
  read              feature table -> arrays: warecast vs pandas.read_sql vs raw binary COPY
                    (warecast and the raw COPY: median of 3)
  write             240,000 forecast rows: warecast's atomic write of a new run (and of a rerun,
                    reported) vs DataFrame.to_sql (PostgreSQL: median of 3 each)
After a human-readable table, one line per comparison:
    RATIO <name> <value> target>=<target> PASS|MISS
Nothing is asserted: a MISS is reported, never raised. See docs/benchmarks.md for a recorded run.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import statistics
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO_ROOT))
# NumPy asks for transparent huge pages for large arrays; with THP defrag=madvise (this VM) each
# fresh 1 GB array then costs ~2 s of kernel compaction, on either side of a comparison. Off for
# the whole run, warecast and baselines alike (docs/benchmarks.md).
os.environ.setdefault("NUMPY_MADVISE_HUGEPAGE", "0")

import pandas as pd  # noqa: E402
import pyarrow as pa  # noqa: E402

from benchmarks import baselines, servers  # noqa: E402
from benchmarks.pandas_features import (  # noqa: E402
    add_features,
    max_relative_difference,
    regularize_hourly,
)

SHORT_WINDOW, SEASON_LENGTH = 24, 168
DBT_VARS = {"grain": "hour", "short_window": SHORT_WINDOW, "season_length": SEASON_LENGTH}
TOLERANCE = 1e-6
SAMPLE_SERIES = 12
FEATURES = ("marts", "fct_training_features")
# Runs of the fast paths (reads, writes) and of their tight baselines; each line is the median.
REPEAT = 3
REGULAR = ("intermediate", "int_observations_regularized")


@dataclass(frozen=True)
class Size:
    series: int
    hours: int
    forecast_series: int
    duckdb_to_sql_rows: int
    horizon: int = 48


@dataclass
class Ratio:
    name: str
    value: float
    target: float

    def line(self) -> str:
        verdict = "PASS" if self.value >= self.target else "MISS"
        return f"RATIO {self.name} {self.value:.2f} target>={self.target:g} {verdict}"


class Timings:
    def __init__(self):
        self.rows: list[tuple[str, str, float]] = []

    def measure(self, target: str, what: str, fn, repeat: int = 1):
        """Runs fn `repeat` times; records the median (the first run pays cold caches)."""
        seconds = []
        for _ in range(repeat):
            start = time.perf_counter()
            result = fn()
            seconds.append(time.perf_counter() - start)
        median = statistics.median(seconds)
        self.rows.append((target, what, median))
        runs = f"  (median of {', '.join(f'{x:.2f}' for x in seconds)})" if repeat > 1 else ""
        print(f"  {target:<9} {what:<44} {median:9.2f} s{runs}", flush=True)
        return result

    def __getitem__(self, key: tuple[str, str]) -> float:
        return next(s for t, w, s in self.rows if (t, w) == key)


# --- environment ------------------------------------------------------------------------------
def start_postgres(root: Path):
    server = servers.start_postgres("bench")
    os.environ.update(
        WARECAST_DUCKDB_PATH=str(root / "bench.duckdb"),
        WARECAST_HOME=str(root / "home"),
    )
    return server


def warehouse(target: str):
    from orchestration.settings import PROFILES_DIR
    from orchestration.warehouse import Warehouse
    from orchestration.warehouse.profiles import load_target

    return Warehouse.from_profile(load_target(PROFILES_DIR, target))


def dbt_parse(target: str, target_path: Path) -> None:
    """Untimed, like a deployment's prepared manifest: imports dbt and parses the project."""
    dbt_invoke("parse", target, target_path)


def dbt_run_features(target: str, target_path: Path) -> Path:
    """`dbt run` of fct_training_features and its parents; returns the model's compiled SQL.

    --full-refresh: the models are incremental, and every repeat must time the whole build.
    """
    dbt_invoke("run", target, target_path, "--select", "+fct_training_features", "--full-refresh")
    return next((target_path / "compiled").rglob("fct_training_features.sql"))


def dbt_invoke(command: str, target: str, target_path: Path, *extra: str) -> None:
    from dbt.cli.main import dbtRunner

    from orchestration.settings import DBT_PROJECT_DIR, PROFILES_DIR

    args = [command, "--project-dir", str(DBT_PROJECT_DIR), "--profiles-dir", str(PROFILES_DIR)]
    args += ["--target", target, "--quiet", *extra]
    args += ["--vars", json.dumps(DBT_VARS), "--target-path", str(target_path)]
    args += ["--log-path", str(target_path / "logs")]
    result = dbtRunner().invoke(args)
    if not result.success:
        sys.exit(f"dbt {command} failed on {target}: {result.exception or result.result}")


def connection(target: str):
    """The DB-API/SQLAlchemy handle the usual pandas code would use."""
    if target == "duckdb":
        import duckdb

        return duckdb.connect(os.environ["WARECAST_DUCKDB_PATH"])
    import sqlalchemy

    env = os.environ
    url = (
        f"postgresql+psycopg://{env['WARECAST_PG_USER']}@{env['WARECAST_PG_HOST']}:"
        f"{env['WARECAST_PG_PORT']}/{env['WARECAST_PG_DATABASE']}"
    )
    return sqlalchemy.create_engine(url)


# --- data and checks --------------------------------------------------------------------------
def raw_observations(size: Size) -> pa.Table:
    from ml.synthetic import generate_server_metrics

    frame = generate_server_metrics(size.series, size.hours, scenario="mixed", seed=0)
    frame["loaded_at"] = pd.Timestamp("2025-01-01")
    return pa.Table.from_pandas(frame, preserve_index=False)


def sample_where(regular: pd.DataFrame) -> tuple[list[str], str]:
    ids = sorted(regular["series_id"].unique())[:SAMPLE_SERIES]
    return ids, "series_id in (" + ", ".join(f"'{i}'" for i in ids) + ")"


def check_features(wh, relation: str, regular: pd.DataFrame) -> float:
    """Max relative difference vs pandas on a sample of series; exits when over TOLERANCE."""
    ids, where = sample_where(regular)
    with wh.session() as s:
        got = s.fetch_arrow(f"select * from {relation} where {where} order by series_id, ts")
    expected = add_features(regular[regular["series_id"].isin(ids)], SHORT_WINDOW, SEASON_LENGTH)
    got = got.to_pandas()
    if len(got) != len(expected):
        sys.exit(f"{relation}: {len(got)} sample rows, pandas has {len(expected)}")
    worst = max_relative_difference(got, expected)
    if not worst <= TOLERANCE:
        sys.exit(f"{relation} differs from pandas features: max relative difference {worst}")
    return worst


# --- the measurements -------------------------------------------------------------------------
def run_sql(wh, sql: str, *settings: str) -> None:
    with wh.session() as s:
        for setting in settings:
            s.execute(setting)
        s.execute(sql)
        s.commit()


def sort_memory(target: str) -> list[str]:
    """What the models' sort_memory pre-hook sets on PostgreSQL (the frame SQL runs without it:
    measured with it too, 129.8 s vs 130.5 s, docs/benchmarks.md)."""
    if target != "postgres":
        return []
    import yaml

    from orchestration.settings import DBT_PROJECT_DIR

    project = yaml.safe_load((DBT_PROJECT_DIR / "dbt_project.yml").read_text())
    return [f"set local work_mem = '{project['vars']['postgres_work_mem']}'"]


def end_to_end(t: Timings, target: str, wh, work: Path) -> Path:
    def warecast():
        compiled = dbt_run_features(target, work / f"dbt_{target}")
        return compiled, baselines.arrays_from_arrow(wh.read_table(*FEATURES))

    def usual():
        raw = baselines.read_sql("select * from raw.observations", connection(target))
        features = add_features(regularize_hourly(raw), SHORT_WINDOW, SEASON_LENGTH)
        return baselines.arrays_from_pandas(features)

    compiled, ours = t.measure(target, "end to end: dbt run + bulk read", warecast)
    theirs = t.measure(target, "end to end: read_sql + pandas", usual)
    if ours.shape != theirs.shape:
        sys.exit(f"end to end on {target}: arrays {ours.shape} vs pandas {theirs.shape}")
    return compiled


def feature_build(t: Timings, target: str, wh, compiled: Path) -> pd.DataFrame:
    regular = wh.read_table(*REGULAR).to_pandas()
    print(
        f"  {target:<9} check dbt features vs pandas: max rel diff "
        f"{check_features(wh, 'marts.fct_training_features', regular):.1e}",
        flush=True,
    )
    run_sql(wh, "create schema if not exists io_bench")
    sql = compiled.read_text()
    t.measure(
        target,
        "features: dbt model SQL",
        lambda: run_sql(wh, f"create table io_bench.fast as {sql}", *sort_memory(target)),
    )
    obvious = baselines.obvious_feature_sql(
        "intermediate.int_observations_regularized", SHORT_WINDOW, SEASON_LENGTH
    )
    t.measure(
        target,
        "features: one frame per statistic",
        lambda: run_sql(wh, f"create table io_bench.obvious as {obvious}"),
    )
    check_features(wh, "io_bench.obvious", regular)
    t.measure(
        target,
        "features: pandas groupby shift/rolling",
        lambda: add_features(regular, SHORT_WINDOW, SEASON_LENGTH),
    )
    run_sql(wh, "drop table io_bench.fast")
    run_sql(wh, "drop table io_bench.obvious")
    return regular


def read_features(t: Timings, target: str, wh) -> None:
    sql = "select * from marts.fct_training_features"
    t.measure(
        target,
        "read: warecast (Arrow) -> arrays",
        lambda: baselines.arrays_from_arrow(wh.read_table(*FEATURES)),
        repeat=REPEAT,
    )
    t.measure(
        target,
        "read: pandas.read_sql -> arrays",
        lambda: baselines.arrays_from_pandas(baselines.read_sql(sql, connection(target))),
    )
    if target == "postgres":
        t.measure(
            target, "read: raw binary COPY bytes (server limit)", raw_copy_bytes, repeat=REPEAT
        )


def raw_copy_bytes() -> int:
    import psycopg

    env = os.environ
    dsn = (
        f"host={env['WARECAST_PG_HOST']} port={env['WARECAST_PG_PORT']} user=postgres dbname=bench"
    )
    total = 0
    sql = "copy marts.fct_training_features to stdout (format binary)"
    with psycopg.connect(dsn) as con, con.cursor() as cur, cur.copy(sql) as copy:
        for chunk in copy:
            total += len(chunk)
    return total


def write_forecasts(t: Timings, target: str, wh, size: Size) -> None:
    """New forecast runs into the existing table (what each scheduled run does), then reruns.

    A rerun rewrites the same partitions, so it also deletes the rows it replaces: reported, not
    targeted. `to_sql` writes the same rows into a new table.
    """
    key = ["series_id", "model_name", "forecast_origin"]
    runs = [
        baselines.forecast_rows(size.forecast_series, size.horizon, origin_day=day)
        for day in range(1, REPEAT + 2)
    ]
    wh.replace_partitions("ml", "forecasts_bench", runs[0], key)  # the table holds a run
    pending = iter(runs[1:])
    label = f"write {runs[0].num_rows:,} rows: warecast atomic"
    t.measure(
        target,
        label,
        lambda: wh.replace_partitions("ml", "forecasts_bench", next(pending), key),
        repeat=REPEAT,
    )
    t.measure(
        target,
        "write: warecast atomic rerun (replaces them)",
        lambda: wh.replace_partitions("ml", "forecasts_bench", runs[-1], key),
        repeat=REPEAT,
    )
    if wh.read_table("ml", "forecasts_bench").num_rows != sum(r.num_rows for r in runs):
        sys.exit(f"write on {target}: rows duplicated or lost")
    frame = runs[-1].to_pandas()
    schema, label, repeat = "ml", "write: DataFrame.to_sql defaults", REPEAT
    if target == "duckdb":
        # DB-API executemany, row by row (no SQLAlchemy dialect for DuckDB here): ~4 ms a row,
        # so it runs once, on the first rows only, and the time is scaled to all of them.
        schema, frame, repeat = None, frame.head(size.duckdb_to_sql_rows), 1
        label += f" (first {len(frame):,} rows, scaled)"
    t.measure(
        target,
        label,
        lambda: baselines.to_sql(frame, "forecasts_to_sql", schema, connection(target)),
        repeat=repeat,
    )
    seconds = t.rows[-1][2] * runs[-1].num_rows / len(frame)
    t.rows[-1] = (target, "write: DataFrame.to_sql defaults", seconds)


def ratios(t: Timings) -> list[Ratio]:
    pg, dd = "postgres", "duckdb"
    return [
        Ratio(
            "features_duckdb_vs_pandas",
            t[dd, "features: pandas groupby shift/rolling"] / t[dd, "features: dbt model SQL"],
            1.5,
        ),
        Ratio(
            "features_postgres_vs_frame_sql",
            t[pg, "features: one frame per statistic"] / t[pg, "features: dbt model SQL"],
            10,
        ),
        Ratio(
            "end_to_end_duckdb_vs_pandas",
            t[dd, "end to end: read_sql + pandas"] / t[dd, "end to end: dbt run + bulk read"],
            2,
        ),
        Ratio(
            "end_to_end_postgres_vs_pandas",
            t[pg, "end to end: read_sql + pandas"] / t[pg, "end to end: dbt run + bulk read"],
            2,
        ),
        Ratio(
            "read_postgres_vs_read_sql",
            t[pg, "read: pandas.read_sql -> arrays"] / t[pg, "read: warecast (Arrow) -> arrays"],
            3.5,
        ),
        Ratio(
            "read_postgres_vs_raw_copy",
            t[pg, "read: raw binary COPY bytes (server limit)"]
            / t[pg, "read: warecast (Arrow) -> arrays"],
            round(1 / 1.2, 2),
        ),
        Ratio(
            "write_postgres_vs_to_sql",
            t[pg, "write: DataFrame.to_sql defaults"] / _write_time(t, pg),
            10,
        ),
    ]


def _write_time(t: Timings, target: str) -> float:
    return next(s for tg, w, s in t.rows if tg == target and w.endswith("rows: warecast atomic"))


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--small", action="store_true", help="reduced size for CI")
    args = parser.parse_args(argv)
    size = Size(20, 600, 200, 1000) if args.small else Size(1000, 8760, 5000, 10_000)
    work = Path(tempfile.mkdtemp(prefix="warecast-bench-"))
    server = start_postgres(work)
    try:
        raw = raw_observations(size)
        print(
            f"raw: {size.series} series x {size.hours} h = {raw.num_rows:,} rows; "
            f"lags 1/{SEASON_LENGTH}, rolling {SHORT_WINDOW}/{SEASON_LENGTH}",
            flush=True,
        )
        t = Timings()
        for target in ("duckdb", "postgres"):
            wh = warehouse(target)
            wh.replace_table("raw", "observations", raw)
            dbt_parse(target, work / f"dbt_{target}")
            compiled = end_to_end(t, target, wh, work)
            feature_build(t, target, wh, compiled)
            read_features(t, target, wh)
            write_forecasts(t, target, wh, size)
        print("\nsummary (seconds; DuckDB to_sql scaled to all rows)")
        for target, what, seconds in t.rows:
            print(f"  {target:<9} {what:<60} {seconds:9.2f}")
        print()
        for ratio in ratios(t):
            print(ratio.line())
    finally:
        server.destroy()
        shutil.rmtree(work, ignore_errors=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
