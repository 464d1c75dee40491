"""Hostile files at the door of `warecast load`, through the real CLI on DuckDB and PostgreSQL.

Every case ends with a short message and exit code 2, and leaves the raw table and the published
forecasts exactly as they were. The cheap cases are refused before Dagster starts.
"""

from __future__ import annotations

import io
import re
import zipfile

import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from tests.cli.helpers import (
    assert_nothing_lost,
    log_path,
    publish_before,
    stderr_lines,
    warecast,
)

pytestmark = [pytest.mark.timeout(600)]

COLUMNS = ["--series-id", "store", "--timestamp", "day", "--value", "sales"]
GOOD = b"store,day,sales\na,2024-01-01,1.5\na,2024-02-01,2.5\n"


def _zip() -> bytes:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as archive:
        archive.writestr("sales.csv", GOOD)
    return buffer.getvalue()


def _parquet(**columns) -> bytes:
    rows = len(next(iter(columns.values())))
    names = ["store", "day", *columns]
    arrays = [pa.array(["a"] * rows), pa.array(["2024-01-01"] * rows), *columns.values()]
    buffer = io.BytesIO()
    pq.write_table(pa.Table.from_arrays(arrays, names=names), buffer)
    return buffer.getvalue()


def _parquet_twice() -> bytes:
    table = pa.Table.from_arrays(
        [pa.array(["a"]), pa.array(["2024-01-01"]), pa.array([1.0]), pa.array([2.0])],
        names=["store", "day", "sales", "sales"],
    )
    buffer = io.BytesIO()
    pq.write_table(table, buffer)
    return buffer.getvalue()


# case: (file name, content, extra flags, message); refused before Dagster starts.
AT_THE_DOOR = {
    "duplicate column names (CSV)": (
        "upload.csv",
        b"store,day,sales,sales\na,2024-01-01,1,2\n",
        [],
        r"more than one column named 'sales' \(columns \{'sales': \[3, 4\]\}\).*Rename",
    ),
    "duplicate column names (Parquet)": (
        "upload.parquet",
        _parquet_twice(),
        [],
        r"more than one column named 'sales'",
    ),
    "a column given twice on the command line": (
        "upload.csv",
        GOOD,
        ["--covariates", "sales"],
        r"Column 'sales' is given twice on the command line \(--value and --covariates\)",
    ),
    "a zip archive renamed .csv": (
        "upload.csv",
        _zip(),
        [],
        r"is not a CSV file: it is a ZIP archive.*Export the data as CSV",
    ),
    "an image renamed .csv": (
        "upload.csv",
        b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR" + bytes(64),
        [],
        r"is not a CSV file: it is a PNG image",
    ),
    "a 0-byte file": ("upload.csv", b"", [], r"is empty \(0 bytes\): nothing to load"),
    "a header without rows": (
        "upload.csv",
        b"store,day,sales\n",
        [],
        r"has a header but no data rows",
    ),
    "a Parquet file without rows": (
        "upload.parquet",
        _parquet(sales=pa.array([], pa.float64())),
        [],
        r"has columns but no rows: nothing to load",
    ),
    "text renamed .parquet": (
        "upload.parquet",
        GOOD,
        [],
        r"is not a Parquet file: it does not start with the Parquet marker PAR1",
    ),
    "a nested Parquet column where a number belongs": (
        "upload.parquet",
        _parquet(sales=pa.array([[1.0, 2.0]])),
        [],
        r"column 'sales' has the nested Parquet type list<.*double>, where a number is expected",
    ),
    "a binary Parquet column where a number belongs": (
        "upload.parquet",
        _parquet(sales=pa.array([b"\x01\x02"], pa.binary())),
        [],
        r"column 'sales' has the binary Parquet type binary, where a number is expected",
    ),
}

# Found only by reading every row: the load step stops inside Dagster, as briefly.
IN_THE_ROWS = {
    "values beyond ±1e150": (
        "upload.csv",
        b"store,day,sales\na,2024-01-01,1.5\nb,2024-01-01,1e308\nb,2024-02-01,-1e308\n",
        [],
        r"column 'sales' has 2 value\(s\) beyond ±1e\+150, e\.g\. 1e\+308 in series 'b' "
        r"\(row 1\); rows \[1, 2\].*rescale",
    ),
    "a newline in a series id": (
        "upload.csv",
        b'store,day,sales\na,2024-01-01,1.5\n"north\nstore",2024-01-01,2\n',
        [],
        r"column 'store' has 1 series id\(s\) with a control character.*'north\\nstore' "
        r"\(row 1\)",
    ),
}


@pytest.fixture(params=["duckdb", pytest.param("postgres", marks=pytest.mark.postgres)])
def published(request, warecast_home):
    """(target, raw table before, forecasts published before), written to a fresh warehouse."""
    if request.param == "postgres":
        request.getfixturevalue("pg_database")
    return (request.param, *publish_before(request.param))


def _refused(published, tmp_path, case) -> str:
    target, raw_before, forecasts = published
    name, content, flags, message = case
    path = tmp_path / name
    path.write_bytes(content)
    result = warecast("load", str(path), *COLUMNS, *flags, "--target", target)
    assert result.returncode == 2, result.stderr[-3000:]
    assert re.search(message, result.stderr, re.S), result.stderr
    assert "Traceback" not in result.stderr
    assert "Traceback" in log_path(result).read_text()  # the trace is kept, in the log
    assert_nothing_lost(target, raw_before, forecasts)
    return result.stderr


@pytest.mark.parametrize("case", sorted(AT_THE_DOOR))
def test_hostile_files_are_refused_before_dagster_starts(published, tmp_path, case):
    stderr = _refused(published, tmp_path, AT_THE_DOOR[case])
    assert "STEP_FAILURE" not in stderr
    lines = [line for line in stderr.splitlines() if line.strip()]
    assert len(lines) == 2, stderr  # the message, and where the details are


@pytest.mark.parametrize("case", sorted(IN_THE_ROWS))
def test_hostile_values_stop_the_load_step_briefly(published, tmp_path, case):
    stderr = _refused(published, tmp_path, IN_THE_ROWS[case])
    assert "Nothing was published by the failed step" in stderr
    assert len(stderr_lines(stderr)) <= 8, stderr
