"""Bring observations into the long raw shape: series_id, ts, value, loaded_at, covariates.

Reading user files is I/O, so it lives here; the demo and synthetic sets come from `ml`.
"""

from __future__ import annotations

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


def read_user_file(path: Path, mapping: ColumnMapping, delimiter: str = ",") -> pd.DataFrame:
    """Read a CSV or Parquet file and map its columns to the raw shape, with clear errors."""
    path = Path(path)
    if not path.exists():
        raise SourceError(f"File {path} does not exist.")
    try:
        if path.suffix.lower() in {".parquet", ".pq"}:
            table = pq.read_table(path)
        else:
            table = pacsv.read_csv(path, parse_options=pacsv.ParseOptions(delimiter=delimiter))
    except (pa.ArrowInvalid, UnicodeDecodeError) as error:
        raise SourceError(
            f"Could not read {path}: {error}. Check the delimiter (--delimiter) and that the file "
            "is UTF-8 encoded CSV or Parquet."
        ) from error
    return to_raw_frame(table.to_pandas(), mapping, source=str(path))


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
            f"e.g. {column[bad].iloc[0]!r} (row {int(bad.idxmax())}). Fix or remove those rows."
        )
    # Stored as naive UTC: mixed offsets in the input are normalised, not silently misread.
    return parsed.dt.tz_convert("UTC").dt.tz_localize(None)


def _numbers(column: pd.Series, name: str, source: str) -> pd.Series:
    parsed = pd.to_numeric(column, errors="coerce").astype("float64")
    bad = column.notna() & parsed.isna()
    if bad.any():
        raise SourceError(
            f"{source}: column {name!r} has {int(bad.sum())} non-numeric value(s), "
            f"e.g. {column[bad].iloc[0]!r} (row {int(bad.idxmax())}). Fix or remove those rows."
        )
    return parsed


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
