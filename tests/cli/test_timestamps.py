"""Timestamps read as the user meant them, through the real `warecast load` (DuckDB, PostgreSQL).

Numbers need --timestamp-unit (read as nanoseconds, 36 monthly epoch seconds collapsed into
1970-01-01); dates like 02/01/2020 need --date-format (they loaded month-first without a word);
on the monthly pipeline a month start written with +01:00 keeps its month (converted to UTC it
fell in the previous one). A refused file leaves raw.observations exactly as it was.

CI time: the cases where the warehouse matters (writing the timestamps, a refusal) run on both;
the others, whose parsing happens before any warehouse is touched, on DuckDB only.
"""

from __future__ import annotations

import datetime as dt
import re

import pandas as pd
import pytest

from orchestration.timestamps import TimestampError, TimestampRules, parse_timestamps
from tests.cli.helpers import client, log_path, stderr_lines, warecast
from tests.reliability.catalogue import RawBuilder
from tests.reliability.harness import assert_same_rows

pytestmark = [pytest.mark.timeout(600)]

COLUMNS = ["--series-id", "store", "--timestamp", "day", "--value", "sales"]
MONTHS = pd.date_range("2020-01-01", periods=36, freq="MS")
SECONDS = (MONTHS - pd.Timestamp("1970-01-01")) // pd.Timedelta("1s")


BOTH = ["duckdb", pytest.param("postgres", marks=pytest.mark.postgres)]


@pytest.fixture
def target(request, warecast_home):
    """(target, raw table before): a fresh warehouse holding one earlier load."""
    name = getattr(request, "param", "duckdb")
    if name == "postgres":
        request.getfixturevalue("pg_database")
    raw = RawBuilder()
    raw.series("before")
    client(name).replace_table("raw", "observations", raw.table())
    return name, raw.table()


def _file(tmp_path, name: str, days, rows: int | None = None) -> str:
    frame = pd.DataFrame({"store": "a", "day": list(days), "sales": 1.0})
    path = tmp_path / name
    if name.endswith(".parquet"):
        frame.to_parquet(path, index=False)
    else:
        frame.to_csv(path, index=False)
    return str(path)


def _refused(target, path: str, *flags: str) -> str:
    """Exit 2 before Dagster starts: the message and where the details are; raw unchanged."""
    name, raw_before = target
    result = warecast("load", path, *COLUMNS, *flags, "--target", name)
    assert result.returncode == 2, result.stderr[-3000:]
    assert "Traceback" not in result.stderr and "STEP_FAILURE" not in result.stderr
    assert len(stderr_lines(result)) == 2, result.stderr
    assert "Traceback" in log_path(result).read_text()
    assert_same_rows(client(name).read_table("raw", "observations"), raw_before)
    return result.stderr


def _loaded(target, path: str, *flags: str):
    """Exit 0; the timestamps now in raw.observations (sorted) and what the command printed."""
    name, _ = target
    result = warecast("load", path, *COLUMNS, *flags, "--target", name)
    assert result.returncode == 0, result.stderr[-3000:]
    raw = client(name).read_table("raw", "observations").to_pandas()
    assert set(raw["series_id"]) == {"a"}
    return sorted(pd.to_datetime(raw["ts"]).tolist()), result.stdout + result.stderr


@pytest.mark.parametrize("target", BOTH, indirect=True)
def test_epoch_seconds_need_a_unit(target, tmp_path):
    path = _file(tmp_path, "epoch.csv", SECONDS)
    stderr = _refused(target, path)
    assert re.search(r"column 'day' holds numbers, not dates \(e\.g\. 1577836800, row 0\)", stderr)
    assert "1577836800 as seconds: 2020-01-01" in stderr
    assert "--timestamp-unit s|ms|us|ns|days" in stderr

    ts, _ = _loaded(target, path, "--timestamp-unit", "s")
    assert ts == list(MONTHS)


def test_epoch_milliseconds_in_parquet_need_a_unit(target, tmp_path):
    path = _file(tmp_path, "epoch.parquet", SECONDS * 1000)
    stderr = _refused(target, path)
    assert "1577836800000 as milliseconds: 2020-01-01" in stderr
    assert "--timestamp-unit" in stderr

    ts, _ = _loaded(target, path, "--timestamp-unit", "ms")
    assert ts == list(MONTHS)


def test_day_first_dates_need_a_format(target, tmp_path):
    path = _file(tmp_path, "dayfirst.csv", MONTHS.strftime("%d/%m/%Y"))
    stderr = _refused(target, path)
    # Two example rows, and the two formats to choose from.
    assert "'01/02/2020' (row 1) and '01/03/2020' (row 2)" in stderr, stderr
    assert "--date-format %d/%m/%Y (day first) or --date-format %m/%d/%Y (month first)" in stderr

    ts, _ = _loaded(target, path, "--date-format", "%d/%m/%Y")
    assert ts == list(MONTHS)


@pytest.mark.parametrize("target", BOTH, indirect=True)
def test_offsets_keep_the_written_month_on_a_monthly_grain(target, tmp_path):
    path = _file(tmp_path, "offsets.csv", MONTHS.strftime("%Y-%m-%dT%H:%M+01:00"))
    ts, printed = _loaded(target, path)  # pipeline aus_retail: grain month
    assert ts == list(MONTHS)  # not 2019-12-31 23:00, ...
    assert "keeps the date and time written (2020-01-01 00:00, not 2019-12-31 23:00 UTC)" in (
        printed
    )


def test_an_ambiguous_date_past_the_first_rows_stops_the_load_step(target, tmp_path):
    """Found only by reading every row: the load step stops, briefly, and writes nothing."""
    name, raw_before = target
    days = [*(MONTHS.strftime("%Y-%m-%d").tolist() * 2000), "02/01/2020"]
    path = _file(tmp_path, "late.csv", days)
    result = warecast("load", path, *COLUMNS, "--target", name)
    assert result.returncode == 2, result.stderr[-3000:]
    assert "'02/01/2020' (row 72000)" in result.stderr and "--date-format" in result.stderr
    assert "Traceback" not in result.stderr
    assert len(stderr_lines(result)) <= 8, result.stderr
    assert_same_rows(client(name).read_table("raw", "observations"), raw_before)


# The rules themselves, in process (no warehouse).


def _parse(values, rules: TimestampRules | None = None):
    ts, note = parse_timestamps(pd.Series(values), "day", "f.csv", rules or TimestampRules())
    return [t.to_pydatetime() for t in ts], note


def test_hourly_grain_converts_offsets_to_utc():
    ts, note = _parse(["2021-01-01T00:00+01:00"], TimestampRules.for_grain("hour"))
    assert ts == [dt.datetime(2020, 12, 31, 23)] and note is None
    ts, note = _parse(["2021-01-01T00:00+01:00"], TimestampRules.for_grain("day"))
    assert ts == [dt.datetime(2021, 1, 1)] and "drops its offset" in note


def test_other_units_formats_and_flag_mistakes():
    assert _parse([18262], TimestampRules(unit="days"))[0] == [dt.datetime(2020, 1, 1)]
    assert _parse([20200131], TimestampRules(date_format="%Y%m%d"))[0] == [dt.datetime(2020, 1, 31)]
    assert _parse(["2024-01-31", "2024-02-01T10:00:00Z"])[0][1] == dt.datetime(2024, 2, 1, 10)
    with pytest.raises(
        TimestampError, match=r"row 1 has '13/01/2020', so the file looks day-first"
    ):
        _parse(["02/01/2020", "13/01/2020"])
    with pytest.raises(
        TimestampError,
        match=r"do not match --date-format '%d/%m/%Y', e\.g\. "
        r"'2020-01-03' \(row 1\)",
    ):
        _parse(["02/01/2020", "2020-01-03"], TimestampRules(date_format="%d/%m/%Y"))
    with pytest.raises(TimestampError, match=r"row 1 has '01/13/2020', so the file looks month"):
        _parse(["02/01/2020", "01/13/2020"])
    with pytest.raises(TimestampError, match=r"mixes day-first and month-first"):
        _parse(["13/01/2020", "01/13/2020"])
    with pytest.raises(TimestampError, match=r"not a strptime format.*%d/%m/%Y"):
        _parse(["02/01/2020"], TimestampRules(date_format="dd/mm/yyyy"))
    with pytest.raises(TimestampError, match=r"exclude each other"):
        _parse([1], TimestampRules(unit="s", date_format="%Y"))
    with pytest.raises(TimestampError, match=r"holds text such as '2024-01-01', not numbers"):
        _parse(["2024-01-01"], TimestampRules(unit="s"))
