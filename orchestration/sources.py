"""Bring observations into the long raw shape: series_id, ts, value, loaded_at, covariates.

Reading user files is I/O, so it lives here; the demo and synthetic sets come from `ml`.
The cheap checks run first (orchestration/file_checks.py, also before Dagster starts).
"""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.csv as pacsv
import pyarrow.parquet as pq

from orchestration.file_checks import (
    _CONTROL,
    MAX_ABS_VALUE,
    PARQUET_SUFFIXES,
    ColumnMapping,
    SourceError,
    _check_utf8,
    _csv_error,
    _csv_options,
    _is_utf8,
    inspect_user_file,
)
from orchestration.timestamps import TimestampError, TimestampRules, parse_timestamps
from orchestration.timestamps import rows_text as _rows
from orchestration.warehouse.identifiers import checked

# Without flags or a grain: numbers and d/m/y dates refused, offsets converted to UTC.
AS_BEFORE = TimestampRules()

__all__ = ["MAX_ABS_VALUE", "ColumnMapping", "SourceError", "inspect_user_file", "read_user_file"]


def read_user_file(
    path: Path,
    mapping: ColumnMapping,
    delimiter: str = ",",
    encoding: str = "utf-8",
    timestamps: TimestampRules = AS_BEFORE,
    notes: list[str] | None = None,
) -> pd.DataFrame:
    """Read a CSV or Parquet file and map its columns to the raw shape, with clear errors.

    `timestamps` says how to read the timestamp column (orchestration/timestamps.py); what it
    did that a person should know (offsets dropped on a calendar grain) is added to `notes`.
    """
    path = Path(path)
    inspect_user_file(path, mapping, delimiter, encoding)
    if path.suffix.lower() in PARQUET_SUFFIXES:
        try:
            table = pq.read_table(path)
        except (pa.ArrowInvalid, OSError) as error:
            raise SourceError(f"{path} is not a readable Parquet file: {error}.") from error
    else:
        table = _read_csv(path, delimiter, encoding, mapping.timestamp)
    if table.num_rows == 0:
        raise SourceError(f"{path} has a header but no data rows: nothing to load.")
    return to_raw_frame(table.to_pandas(), mapping, str(path), timestamps, notes)


def _read_csv(path: Path, delimiter: str, encoding: str, timestamp: str = "ts") -> pa.Table:
    if _is_utf8(encoding):
        _check_utf8(path)
    read_options, parse_options = _csv_options(delimiter, encoding)
    # The timestamp column as text: pandas parses it (orchestration/timestamps.py), not Arrow's
    # inference (which reads integers as numbers and converts offsets to UTC by itself).
    convert = pacsv.ConvertOptions(column_types={timestamp: pa.string()})
    try:
        return pacsv.read_csv(
            path, read_options=read_options, parse_options=parse_options, convert_options=convert
        )
    except (pa.ArrowInvalid, UnicodeDecodeError, LookupError) as error:
        raise _csv_error(path, delimiter, encoding, error) from error


def to_raw_frame(
    frame: pd.DataFrame,
    mapping: ColumnMapping,
    source: str,
    timestamps: TimestampRules = AS_BEFORE,
    notes: list[str] | None = None,
) -> pd.DataFrame:
    wanted = [mapping.series_id, mapping.timestamp, mapping.value, *mapping.covariates]
    missing = [c for c in wanted if c not in frame.columns]
    if missing:
        raise SourceError(
            f"{source} has no column(s) {missing}; it has {list(frame.columns)}. "
            "Name the right columns with --series-id/--timestamp/--value/--covariates."
        )
    for name in mapping.covariates:
        checked(name, "covariate column name")
    series_id = frame[mapping.series_id].astype("string")
    _check_series_ids(series_id, mapping.series_id, source)
    try:
        ts, note = parse_timestamps(frame[mapping.timestamp], mapping.timestamp, source, timestamps)
    except TimestampError as error:
        raise SourceError(str(error)) from None
    if note and notes is not None and not notes:  # one line per load, not per batch
        notes.append(note)
    out = pd.DataFrame(
        {
            "series_id": series_id,
            "ts": ts,
            "value": _numbers(frame[mapping.value], mapping.value, source, series_id),
        }
    )
    for name in mapping.covariates:
        out[name.lower()] = _numbers(frame[name], name, source, series_id)
    out["loaded_at"] = pd.Timestamp(datetime.now(UTC).replace(tzinfo=None))
    return out


def _numbers(
    column: pd.Series, name: str, source: str, series_id: pd.Series | None = None
) -> pd.Series:
    parsed = pd.to_numeric(column, errors="coerce").astype("float64")
    bad = column.notna() & parsed.isna()
    if bad.any():
        raise SourceError(
            f"{source}: column {name!r} has {int(bad.sum())} non-numeric value(s), "
            f"e.g. {column[bad].iloc[0]!r} (row {int(bad.idxmax())}); {_rows(bad)}. "
            "Fix or remove those rows."
        )
    huge = pd.Series(np.isfinite(parsed) & (parsed.abs() > MAX_ABS_VALUE), index=parsed.index)
    if huge.any():
        first = huge.idxmax()
        where = f" in series {series_id[first]!r}" if series_id is not None else ""
        raise SourceError(
            f"{source}: column {name!r} has {int(huge.sum())} value(s) beyond "
            f"±{MAX_ABS_VALUE:.0e}, e.g. {float(parsed[first])!r}{where} (row {int(first)}); "
            f"{_rows(huge)}. Their squares overflow the feature statistics. Fix those rows, "
            "or rescale the column (e.g. to thousands)."
        )
    return parsed


def _check_series_ids(series_id: pd.Series, name: str, source: str) -> None:
    ids = pd.Series(series_id.dropna().unique(), dtype="string")  # thousands, not millions
    if not ids.str.contains(_CONTROL).any():
        return
    bad = series_id.str.contains(_CONTROL, na=False).astype(bool)
    if bad.any():
        raise SourceError(
            f"{source}: column {name!r} has {int(bad.sum())} series id(s) with a control "
            f"character (newline, tab, ...), e.g. {series_id[bad].iloc[0]!r} "
            f"(row {int(bad.idxmax())}); {_rows(bad)}. CSV exports and BI tools split on them: "
            "remove them from the ids."
        )


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
    handles them and marts.fct_observation_issues records each.
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
    _check_magnitude(table, names, source)
    ts = table.column(names.index("ts"))
    if not pa.types.is_timestamp(ts.type):
        raise SourceError(
            f"{source}: column 'ts' has type {ts.type}, not a timestamp. Reload it with "
            "`warecast load`, which parses timestamps (orchestration/timestamps.py)."
        )


def _check_magnitude(table: pa.Table, names: list[str], source: str) -> None:
    """A raw table written by another tool: values whose squares would overflow stop the run."""
    series_id = table.column(names.index("series_id")).to_pandas()
    _numbers(table.column(names.index("value")).to_pandas(), "value", source, series_id)
