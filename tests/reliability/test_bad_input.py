"""The bad-input catalogue on DuckDB and PostgreSQL (docs/reliability.md lists each outcome).

Cases that can coexist run as separate series of one raw table in one pipeline run per
warehouse; cases that must stop the run get their own small run. In every case forecasts
published before stay intact and queryable.
"""

from __future__ import annotations

import io
import math
import re
import subprocess
import sys
import zipfile
from collections import Counter

import pandas as pd
import pyarrow as pa
import pytest

from tests.reliability.catalogue import HOSTILE_ID, N_MONTHS, catalogue, month
from tests.reliability.harness import (
    FORECAST_KEY,
    HORIZON,
    assert_published_intact,
    failure_messages,
    publish_real_forecasts,
    published_forecasts,
    run_job,
    use_reliability_pipeline,
)

pytestmark = [pytest.mark.timeout(600)]

EXPECTED_ISSUES = {
    ("null_ts", "missing_ts"): 2,
    (None, "missing_series_id"): 1,
    ("null_values", "missing_value"): 3,
    ("null_values", "superseded_duplicate"): 3,
    ("duplicates", "superseded_duplicate"): 4,
    ("off_grain", "off_grain_ts"): 15,
    ("outlier", "outlier"): 1,
    ("outlier", "superseded_duplicate"): 1,
    ("negative", "below_min_value"): 2,
    ("negative", "superseded_duplicate"): 2,
    ("non_finite", "non_finite_value"): 2,
    ("non_finite", "superseded_duplicate"): 2,
}


@pytest.fixture(params=["duckdb", pytest.param("postgres", marks=pytest.mark.postgres)])
def pipeline(request, warecast_home, monkeypatch):
    """(definitions, warehouse client, published forecasts) on a fresh warehouse."""
    if request.param == "postgres":
        request.getfixturevalue("pg_database")
    use_reliability_pipeline(monkeypatch)
    from orchestration.definitions import build_definitions

    defs = build_definitions(request.param)
    return defs, defs.resources["warehouse"].client()


def test_catalogue_cases_are_handled_as_documented(pipeline):
    defs, client = pipeline
    published = publish_real_forecasts(defs, client)
    raw, cases = catalogue()
    client.replace_table("raw", "observations", raw)

    result = run_job(defs)
    assert result.success, failure_messages(result)

    assert_published_intact(client, published)
    forecasts = client.read_table("ml", "forecasts").to_pandas()
    new = forecasts[~forecasts["series_id"].str.startswith("published_")]
    assert set(new["series_id"]) == set(cases)
    assert (new.groupby("series_id").size() == HORIZON).all()
    quantiles = new[["p10", "p50", "p90"]].to_numpy()
    assert all(math.isfinite(v) for v in quantiles.ravel())
    assert ((new["p10"] <= new["p50"]) & (new["p50"] <= new["p90"])).all()

    by_series = new.groupby("series_id")
    assert set(by_series.get_group("short")["method"]) == {"seasonal_naive_fallback"}
    assert set(by_series.get_group("clean")["method"]) == {"tft"}
    origins = by_series["forecast_origin"].first()
    assert origins["stops_early"] == pd.Timestamp(month(N_MONTHS - 19))
    assert origins["off_grain"] == pd.Timestamp(month(N_MONTHS - 1))
    assert origins[HOSTILE_ID] == pd.Timestamp(month(N_MONTHS - 1))

    issues = client.read_table("marts", "fct_observation_issues").to_pandas()
    counted = Counter(
        (None if pd.isna(s) else s, issue)
        for s, issue in zip(issues["series_id"], issues["issue"], strict=True)
    )
    assert dict(counted) == EXPECTED_ISSUES
    assert issues["action"].notna().all()

    latest = client.read_table("marts", "fct_forecasts_latest").to_pandas()
    assert set(latest["series_id"]) == set(cases) | {"published_0", "published_1"}


def _raw_without_value(raw: pa.Table) -> pa.Table:
    return raw.drop_columns(["value"])


def _raw_with_text_values(raw: pa.Table) -> pa.Table:
    text = pa.array(["12.5", "lots", None, "7"] * (raw.num_rows // 4) + ["1"] * (raw.num_rows % 4))
    return raw.set_column(raw.column_names.index("value"), "value", text)


def _raw_with_text_ts(raw: pa.Table) -> pa.Table:
    text = pa.array(["yesterday"] * raw.num_rows)
    return raw.set_column(raw.column_names.index("ts"), "ts", text)


def _raw_with_a_huge_value(raw: pa.Table) -> pa.Table:
    values = raw.column("value").to_pylist()
    values[5] = -1e200  # a row of series "clean": its square overflows the feature SQL
    return raw.set_column(raw.column_names.index("value"), "value", pa.array(values))


STOPPING_CASES = {
    "values beyond 1e150": (
        _raw_with_a_huge_value,
        r"'value' has 1 value\(s\) beyond ±1e\+150, e\.g\. -1e\+200 in series 'clean' \(row 5\)",
    ),
    "empty raw table": (lambda raw: raw.slice(0, 0), "has no rows"),
    "missing column": (_raw_without_value, r"no column\(s\) \['value'\]"),
    "non-numeric values": (_raw_with_text_values, r"'value' has \d+ non-numeric.*'lots'.*rows \["),
    "timestamps as text": (_raw_with_text_ts, "'ts' has type string, not a timestamp"),
}


@pytest.mark.parametrize("case", sorted(STOPPING_CASES))
def test_raw_tables_that_cannot_be_forecast_stop_the_run(pipeline, case):
    defs, client = pipeline
    published = published_forecasts()
    client.replace_partitions("ml", "forecasts", published, FORECAST_KEY)
    make_bad, message = STOPPING_CASES[case]
    client.replace_table("raw", "observations", make_bad(catalogue()[0]))

    result = run_job(defs)
    assert not result.success
    assert re.search(message, failure_messages(result), re.S), failure_messages(result)
    assert_published_intact(client, published)
    assert client.read_table("ml", "forecasts").num_rows == published.num_rows


def _zipped(text: str) -> bytes:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as archive:
        archive.writestr("upload.csv", text)
    return buffer.getvalue()


GOOD_CSV = "store,day,sales\na,2024-01-01T00:00:00+02:00,1.5\na,2024-01-02T00:00:00Z,2.5\n"
FILE_CASES = {
    "wrong delimiter": (GOOD_CSV.replace(",", ";").encode(), r"Pass --delimiter ';'"),
    "wrong encoding": (
        "store,day,sales\nZürich,2024-01-01,1\n".encode("latin-1"),
        r"not UTF-8: byte b'\\xfc' on line 2.*iconv",
    ),
    "missing column": (b"store,day,revenue\na,2024-01-01,1\n", r"no column\(s\) \['sales'\]"),
    "duplicate column names": (
        b"store,day,sales,sales\na,2024-01-01,1,2\n",
        r"more than one column named 'sales'",
    ),
    "a zip archive renamed .csv": (_zipped(GOOD_CSV), r"is not a CSV file: it is a ZIP archive"),
    "values beyond 1e150": (
        b"store,day,sales\na,2024-01-01,1e308\n",
        r"'sales' has 1 value\(s\) beyond ±1e\+150",
    ),
    "a newline in a series id": (
        b'store,day,sales\n"a\nb",2024-01-01,1\n',
        r"'store' has 1 series id\(s\) with a control character.*'a\\nb'",
    ),
}


def _load_file(defs, path):
    from orchestration.assets.raw import RAW_KEY

    config = {
        "dataset": "file",
        "path": str(path),
        "series_id_column": "store",
        "timestamp_column": "day",
        "value_column": "sales",
    }
    return run_job(defs, raw=config, selection=[RAW_KEY])


@pytest.mark.parametrize("case", sorted(FILE_CASES))
def test_bad_user_files_stop_the_load_and_keep_raw(pipeline, tmp_path, case):
    defs, client = pipeline
    published = published_forecasts()
    client.replace_partitions("ml", "forecasts", published, FORECAST_KEY)
    raw_before = catalogue()[0]
    client.replace_table("raw", "observations", raw_before)
    content, message = FILE_CASES[case]
    path = tmp_path / "upload.csv"
    path.write_bytes(content)

    result = _load_file(defs, path)
    assert not result.success
    assert re.search(message, failure_messages(result), re.S), failure_messages(result)
    assert client.read_table("raw", "observations").num_rows == raw_before.num_rows
    assert_published_intact(client, published)


def test_mixed_time_zones_in_a_file_keep_their_dates_on_a_monthly_grain(pipeline, tmp_path):
    """The reliability pipeline's grain is month: each timestamp keeps the date written (converted
    to UTC, 2024-01-01T00:00+02:00 fell in December); hourly grains convert to UTC
    (tests/cli/test_timestamps.py)."""
    defs, client = pipeline
    path = tmp_path / "upload.csv"
    path.write_text(GOOD_CSV)
    result = _load_file(defs, path)
    assert result.success, failure_messages(result)
    raw = client.read_table("raw", "observations").to_pandas().sort_values("ts")
    assert raw["ts"].tolist() == [pd.Timestamp("2024-01-01"), pd.Timestamp("2024-01-02")]


def test_warecast_load_explains_the_encoding_and_accepts_it(warecast_home, tmp_path):
    """The user's path, end to end: `warecast load` with a latin-1 file, then with --encoding."""
    path = tmp_path / "latin1.csv"
    path.write_bytes("store,day,sales\nZürich,2024-01-01,1\n".encode("latin-1"))
    args = ["load", str(path), "--series-id", "store", "--timestamp", "day", "--value", "sales"]
    warecast = [sys.executable, "-m", "orchestration.cli"]

    refused = subprocess.run([*warecast, *args], capture_output=True, text=True, timeout=300)
    assert refused.returncode == 2
    assert "not UTF-8" in refused.stderr and "--encoding latin-1" in refused.stderr

    loaded = subprocess.run(
        [*warecast, *args, "--encoding", "latin-1"], capture_output=True, text=True, timeout=300
    )
    assert loaded.returncode == 0, loaded.stderr[-2000:]
    from orchestration.settings import PROFILES_DIR
    from orchestration.warehouse import Warehouse
    from orchestration.warehouse.profiles import load_target

    client = Warehouse.from_profile(load_target(PROFILES_DIR, "duckdb"))
    raw = client.read_table("raw", "observations")
    assert raw.column("series_id").to_pylist() == ["Zürich"]
