"""Bring observations into the long raw shape: series_id, ts, value, loaded_at, covariates.

Reading user files is I/O, so it lives here; the demo and synthetic sets come from `ml`.
"""

from __future__ import annotations

import codecs
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path

import pandas as pd
import pyarrow as pa
import pyarrow.csv as pacsv
import pyarrow.parquet as pq

from orchestration.warehouse.identifiers import checked


class SourceError(ValueError):
    pass


@dataclass(frozen=True)
class ColumnMapping:
    series_id: str = "series_id"
    timestamp: str = "ts"
    value: str = "value"
    covariates: list[str] = field(default_factory=list)


def read_user_file(
    path: Path, mapping: ColumnMapping, delimiter: str = ",", encoding: str = "utf-8"
) -> pd.DataFrame:
    """Read a CSV or Parquet file and map its columns to the raw shape, with clear errors."""
    path = Path(path)
    if not path.exists():
        raise SourceError(f"File {path} does not exist.")
    if path.suffix.lower() in {".parquet", ".pq"}:
        try:
            table = pq.read_table(path)
        except pa.ArrowInvalid as error:
            raise SourceError(f"{path} is not a readable Parquet file: {error}.") from error
    else:
        table = _read_csv(path, delimiter, encoding)
        _check_delimiter(path, table, delimiter, mapping)
    return to_raw_frame(table.to_pandas(), mapping, source=str(path))


_LIKELY_DELIMITERS = (",", ";", "\t", "|")


def _read_csv(path: Path, delimiter: str, encoding: str) -> pa.Table:
    if encoding.lower().replace("-", "") in {"utf8", "utf8sig"}:
        _check_utf8(path)
    try:
        table = pacsv.read_csv(
            path,
            read_options=pacsv.ReadOptions(encoding=encoding),
            parse_options=pacsv.ParseOptions(delimiter=delimiter),
        )
    except (pa.ArrowInvalid, UnicodeDecodeError, LookupError) as error:
        raise SourceError(
            f"Could not read {path} as CSV delimited by {delimiter!r} in {encoding}: {error}. "
            "Check the delimiter (--delimiter) and the encoding."
        ) from error
    return table


def _check_delimiter(path: Path, table: pa.Table, delimiter: str, mapping: ColumnMapping) -> None:
    """One column whose header contains another delimiter: the file uses that one."""
    if table.num_columns != 1:
        return
    header = table.column_names[0]
    wanted = [mapping.series_id, mapping.timestamp, mapping.value, *mapping.covariates]
    for candidate in _LIKELY_DELIMITERS:
        if candidate != delimiter and candidate in header:
            raise SourceError(
                f"{path} has no column(s) {wanted}: it looks delimited by {candidate!r}, not "
                f"{delimiter!r} (its header {header!r} was read as a single column). "
                f"Pass --delimiter {candidate!r}."
            )


def _check_utf8(path: Path, chunk_size: int = 1 << 20) -> None:
    """Find the first byte that is not UTF-8 and say where it is and how to convert the file."""
    with path.open("rb") as handle:
        head = handle.read(4)
        if head.startswith((b"\xff\xfe", b"\xfe\xff")):
            raise SourceError(
                f"{path} is UTF-16 encoded; warecast reads UTF-8 CSV. Convert it, e.g. "
                f"`iconv -f UTF-16 -t UTF-8 {path.name} > utf8.csv`, or save as CSV UTF-8."
            )
        handle.seek(0)
        decoder = codecs.getincrementaldecoder("utf-8")()
        line = 1
        while chunk := handle.read(chunk_size):
            try:
                line += decoder.decode(chunk).count("\n")
            except UnicodeDecodeError as error:
                line += error.object[: error.start].count(b"\n")
                bad = error.object[error.start : error.start + 1]
                raise SourceError(
                    f"{path} is not UTF-8: byte {bad!r} on line {line} cannot be decoded. "
                    "Pass the file's encoding (e.g. --encoding latin-1) or convert it: "
                    f"`iconv -f LATIN1 -t UTF-8 {path.name} > utf8.csv`."
                ) from error


def to_raw_frame(frame: pd.DataFrame, mapping: ColumnMapping, source: str) -> pd.DataFrame:
    wanted = [mapping.series_id, mapping.timestamp, mapping.value, *mapping.covariates]
    missing = [c for c in wanted if c not in frame.columns]
    if missing:
        raise SourceError(
            f"{source} has no column(s) {missing}; it has {list(frame.columns)}. "
            "Name the right columns with --series-id/--timestamp/--value/--covariates."
        )
    for name in mapping.covariates:
        checked(name, "covariate column name")
    out = pd.DataFrame(
        {
            "series_id": frame[mapping.series_id].astype("string"),
            "ts": _timestamps(frame[mapping.timestamp], mapping.timestamp, source),
            "value": _numbers(frame[mapping.value], mapping.value, source),
        }
    )
    for name in mapping.covariates:
        out[name.lower()] = _numbers(frame[name], name, source)
    out["loaded_at"] = pd.Timestamp(datetime.now(UTC).replace(tzinfo=None))
    return out


def _timestamps(column: pd.Series, name: str, source: str) -> pd.Series:
    parsed = pd.to_datetime(column, errors="coerce", utc=True)
    bad = column.notna() & parsed.isna()
    if bad.any():
        raise SourceError(
            f"{source}: column {name!r} has {int(bad.sum())} value(s) that are not timestamps, "
            f"e.g. {column[bad].iloc[0]!r} (row {int(bad.idxmax())}); {_rows(bad)}. "
            "Fix or remove those rows."
        )
    # Stored as naive UTC: mixed offsets in the input are normalised, not silently misread.
    return parsed.dt.tz_convert("UTC").dt.tz_localize(None)


def _numbers(column: pd.Series, name: str, source: str) -> pd.Series:
    parsed = pd.to_numeric(column, errors="coerce").astype("float64")
    bad = column.notna() & parsed.isna()
    if bad.any():
        raise SourceError(
            f"{source}: column {name!r} has {int(bad.sum())} non-numeric value(s), "
            f"e.g. {column[bad].iloc[0]!r} (row {int(bad.idxmax())}); {_rows(bad)}. "
            "Fix or remove those rows."
        )
    return parsed


def _rows(bad: pd.Series, limit: int = 5) -> str:
    rows = [int(i) for i in bad[bad].index[:limit]]
    more = f" and {int(bad.sum()) - limit} more" if bad.sum() > limit else ""
    lines = [r + 2 for r in rows]
    return f"rows {rows}{more} (CSV lines {lines}, counting the header as line 1)"


def demo_frame(dataset: str, max_series: int | None, seed: int = 7) -> pd.DataFrame:
    """The built-in data sets in the raw shape."""
    if dataset == "aus_retail":
        from ml.datasets import load_aus_retail

        frame = load_aus_retail()
    elif dataset == "synthetic":
        from ml.synthetic import generate_server_metrics

        frame = generate_server_metrics(
            n_series=max_series or 50, n_hours=24 * 7 * 8, scenario="mixed", seed=seed
        )
    else:
        raise SourceError(f"Unknown dataset {dataset!r}; use aus_retail, synthetic or current.")
    if max_series:
        keep = sorted(frame["series_id"].unique())[:max_series]
        frame = frame[frame["series_id"].isin(keep)]
    return to_raw_frame(frame, ColumnMapping(), source=dataset)


REQUIRED_RAW_COLUMNS = ("series_id", "ts", "value", "loaded_at")


def validate_raw(table: pa.Table, source: str) -> None:
    """Stop before dbt when the raw table cannot make features: empty, a column missing or mistyped.

    Row-level problems (null keys, duplicates, impossible values) do not stop a run: staging
    handles them and records each in staging.stg_raw__observation_issues.
    """
    names = [name.lower() for name in table.column_names]
    missing = [c for c in REQUIRED_RAW_COLUMNS if c not in names]
    if missing:
        raise SourceError(
            f"{source} has no column(s) {missing}; it has {table.column_names}. Reload it with "
            "`warecast load FILE --series-id COL --timestamp COL --value COL`."
        )
    if table.num_rows == 0:
        raise SourceError(
            f"{source} has no rows: nothing to forecast. Load observations first "
            "(`warecast load FILE ...`); the published forecasts are left as they are."
        )
    column = table.column(names.index("value"))
    if not (
        pa.types.is_floating(column.type)
        or pa.types.is_integer(column.type)
        or pa.types.is_decimal(column.type)
    ):
        frame = column.to_pandas()
        _numbers(frame, "value", source)  # names the non-numeric rows, if any
        raise SourceError(
            f"{source}: column 'value' has type {column.type}, not a number. Reload it with "
            "`warecast load`, which converts and checks values."
        )
    ts = table.column(names.index("ts"))
    if not pa.types.is_timestamp(ts.type):
        raise SourceError(
            f"{source}: column 'ts' has type {ts.type}, not a timestamp. Reload it with "
            "`warecast load`, which parses timestamps and converts time zones to UTC."
        )
