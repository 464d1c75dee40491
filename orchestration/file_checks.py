"""The door of `warecast load`: cheap checks of a user file before anything reads it whole.

Only the first bytes and the header are read: the file exists, is readable and not empty, is
CSV or Parquet (not an archive or an image renamed), names each mapped column once, and
(Parquet) holds no nested or binary column where a number, a key or a timestamp belongs.
"""

from __future__ import annotations

import codecs
import re
from dataclasses import dataclass, field
from pathlib import Path

import pyarrow as pa
import pyarrow.csv as pacsv
import pyarrow.parquet as pq


class SourceError(ValueError):
    pass


# Beyond this a value's square, summed over a series, overflows a double in the feature SQL:
# the running sums of squared deviations reach 4 * 1e300 * rows (finite up to ~4.5e7 rows).
MAX_ABS_VALUE = 1e150
# C0/C1 control characters and Unicode line/paragraph separators: CSV exports and BI tools
# split rows or cells on them.
_CONTROL = re.compile("[\x00-\x1f\x7f-\x9f\u2028\u2029]")
RAW_NAMES = ("series_id", "ts", "value", "loaded_at")


@dataclass(frozen=True)
class ColumnMapping:
    series_id: str = "series_id"
    timestamp: str = "ts"
    value: str = "value"
    covariates: list[str] = field(default_factory=list)

    def columns(self) -> list[str]:
        return [self.series_id, self.timestamp, self.value, *self.covariates]

    def check(self) -> None:
        """Each flag names its own column; covariates never overwrite a raw column."""
        flags = {self.series_id: "--series-id"}
        for name, flag in [(self.timestamp, "--timestamp"), (self.value, "--value")] + [
            (c, "--covariates") for c in self.covariates
        ]:
            if name in flags:
                raise SourceError(
                    f"Column {name!r} is given twice on the command line ({flags[name]} and "
                    f"{flag}): each of --series-id, --timestamp, --value and --covariates "
                    "needs a column of its own."
                )
            flags[name] = flag
        for name in self.covariates:
            if name.lower() in RAW_NAMES:
                raise SourceError(
                    f"Covariate {name!r} would overwrite the raw column {name.lower()!r}: "
                    "rename that column in the file, or leave it out of --covariates."
                )


PARQUET_SUFFIXES = {".parquet", ".pq"}


def inspect_user_file(
    path: Path, mapping: ColumnMapping, delimiter: str = ",", encoding: str = "utf-8"
) -> None:
    """The cheap checks, run before anything starts: reads the first bytes and the header only.

    The file exists, is a file, is readable, is not empty, is CSV or Parquet (not an archive or
    an image renamed), has each named column once, and (Parquet) no nested or binary column
    where a number, a key or a timestamp is expected.
    """
    path = Path(path)
    mapping.check()
    head = _head(path)
    parquet = path.suffix.lower() in PARQUET_SUFFIXES
    _check_kind(path, head, parquet)
    if parquet:
        schema = _parquet_schema(path)
    else:
        schema = _csv_header(path, delimiter, encoding)
        _check_delimiter(path, schema.names, delimiter, mapping)
    _check_columns(path, schema.names, mapping)
    if parquet:
        _check_parquet_types(path, schema, mapping)


def check_timestamp_sample(
    path: Path,
    mapping: ColumnMapping,
    delimiter: str = ",",
    encoding: str = "utf-8",
    unit: str | None = None,
    date_format: str | None = None,
    rows: int = 65_536,
) -> None:
    """The first rows' timestamps read as the load reads them (orchestration/timestamps.py):
    numbers without --timestamp-unit, dates like 02/01/2020 without --date-format, or values
    that are no timestamp are refused here, before anything starts. The load checks every row."""
    from orchestration.timestamps import TimestampError, TimestampRules, parse_timestamps

    path = Path(path)
    rules = TimestampRules(unit or None, date_format or None)
    try:
        rules.check()
    except TimestampError as error:
        raise SourceError(str(error)) from None
    try:
        if path.suffix.lower() in PARQUET_SUFFIXES:
            parquet = pq.ParquetFile(path)
            sample = next(parquet.iter_batches(batch_size=rows, columns=[mapping.timestamp]), None)
        else:
            read_options, parse_options = _csv_options(delimiter, encoding)
            convert = pacsv.ConvertOptions(
                include_columns=[mapping.timestamp], column_types={mapping.timestamp: pa.string()}
            )
            reader = pacsv.open_csv(path, read_options, parse_options, convert)
            sample = reader.read_next_batch()
    except (pa.ArrowInvalid, OSError, UnicodeDecodeError, LookupError, StopIteration):
        return  # the load itself says what is wrong with the file
    if sample is None or sample.num_rows == 0:
        return
    column = sample.column(0).to_pandas()
    try:
        parse_timestamps(column, mapping.timestamp, str(path), rules)
    except TimestampError as error:
        raise SourceError(str(error)) from None


def _head(path: Path, size: int = 8192) -> bytes:
    if not path.exists():
        raise SourceError(f"File {path} does not exist. Check the path (and the current folder).")
    if not path.is_file():
        raise SourceError(f"{path} is a folder, not a file: pass the CSV or Parquet file in it.")
    try:
        with path.open("rb") as handle:
            head = handle.read(size)
    except OSError as error:
        raise SourceError(
            f"Cannot read {path}: {error.strerror}. Check its permissions."
        ) from error
    if not head:
        raise SourceError(f"{path} is empty (0 bytes): nothing to load. Export the data again.")
    return head


# First bytes of formats people send instead of a CSV.
_SIGNATURES = {
    b"PK\x03\x04": "a ZIP archive (or an Excel .xlsx/.ods workbook)",
    b"\xd0\xcf\x11\xe0": "an old Excel .xls (or other Office) file",
    b"\x89PNG": "a PNG image",
    b"\xff\xd8\xff": "a JPEG image",
    b"GIF8": "a GIF image",
    b"%PDF": "a PDF document",
    b"\x1f\x8b": "a gzip archive",
    b"BZh": "a bzip2 archive",
    b"7z\xbc\xaf": "a 7-Zip archive",
    b"SQLite format 3": "an SQLite database",
    b"PAR1": "a Parquet file",
}


def _check_kind(path: Path, head: bytes, parquet: bool) -> None:
    kind = next((name for magic, name in _SIGNATURES.items() if head.startswith(magic)), None)
    if parquet:
        if not head.startswith(b"PAR1"):
            found = f"it is {kind}" if kind else "it does not start with the Parquet marker PAR1"
            raise SourceError(
                f"{path} is not a Parquet file: {found}. Export it as Parquet, or as CSV "
                "(UTF-8) with a .csv name."
            )
        return
    if kind == "a Parquet file":
        raise SourceError(f"{path} is a Parquet file with a CSV name: rename it to .parquet.")
    if kind and not (kind == "a gzip archive" and path.suffix.lower() == ".gz"):
        raise SourceError(
            f"{path} is not a CSV file: it is {kind}. Export the data as CSV (UTF-8) or "
            "Parquet and load that file."
        )
    if b"\x00" in head and not head.startswith((b"\xff\xfe", b"\xfe\xff")):
        raise SourceError(
            f"{path} is not a text CSV file: it contains NUL bytes (binary data) in its first "
            f"{len(head)} bytes. Export the data as CSV (UTF-8) or Parquet."
        )


def _parquet_schema(path: Path) -> pa.Schema:
    """The schema from the footer; a file without rows is refused here."""
    try:
        footer = pq.ParquetFile(path)
    except (pa.ArrowInvalid, OSError) as error:
        raise SourceError(f"{path} is not a readable Parquet file: {error}.") from error
    if footer.metadata.num_rows == 0:
        raise SourceError(f"{path} has columns but no rows: nothing to load. Export it again.")
    return footer.schema_arrow


def _csv_header(path: Path, delimiter: str, encoding: str) -> pa.Schema:
    """The header and the first block only; a header-only file is refused here."""
    options = _csv_options(delimiter, encoding)
    try:
        reader = pacsv.open_csv(path, read_options=options[0], parse_options=options[1])
        schema = reader.schema
        reader.read_next_batch()
    except StopIteration:
        raise SourceError(
            f"{path} has a header but no data rows: nothing to load. Export the data again."
        ) from None
    except (pa.ArrowInvalid, UnicodeDecodeError, LookupError) as error:
        if _is_utf8(encoding):
            _check_utf8(path)
        raise _csv_error(path, delimiter, encoding, error) from error
    return schema


def _check_columns(path: Path, names: list[str], mapping: ColumnMapping) -> None:
    doubled = sorted({c for c in mapping.columns() if names.count(c) > 1})
    if doubled:
        positions = {c: [i + 1 for i, n in enumerate(names) if n == c] for c in doubled}
        raise SourceError(
            f"{path} has more than one column named {', '.join(map(repr, doubled))} "
            f"(columns {positions}): warecast cannot tell which to use. Rename or remove the "
            "extra column(s)."
        )
    missing = [c for c in mapping.columns() if c not in names]
    if missing:
        raise SourceError(
            f"{path} has no column(s) {missing}; it has {names}. "
            "Name the right columns with --series-id/--timestamp/--value/--covariates."
        )


def _check_parquet_types(path: Path, schema: pa.Schema, mapping: ColumnMapping) -> None:
    expected = {mapping.series_id: "a series key", mapping.timestamp: "a timestamp"}
    expected.update({c: "a number" for c in [mapping.value, *mapping.covariates]})
    for name, what in expected.items():
        kind = schema.field(name).type
        if pa.types.is_dictionary(kind):
            kind = kind.value_type
        nested = pa.types.is_nested(kind)
        binary = pa.types.is_binary(kind) or pa.types.is_large_binary(kind)
        if nested or binary or pa.types.is_fixed_size_binary(kind):
            shape = "nested" if nested else "binary"
            raise SourceError(
                f"{path}: column {name!r} has the {shape} Parquet type {kind}, where {what} is "
                f"expected. Write {name!r} as a plain "
                f"{'double' if what == 'a number' else 'string or timestamp'} column."
            )


def _is_utf8(encoding: str) -> bool:
    return encoding.lower().replace("-", "") in {"utf8", "utf8sig"}


def _csv_options(delimiter: str, encoding: str):
    return pacsv.ReadOptions(encoding=encoding), pacsv.ParseOptions(delimiter=delimiter)


def _csv_error(path: Path, delimiter: str, encoding: str, error: Exception) -> SourceError:
    return SourceError(
        f"Could not read {path} as CSV delimited by {delimiter!r} in {encoding}: {error}. "
        "Check the delimiter (--delimiter) and the encoding."
    )


_LIKELY_DELIMITERS = (",", ";", "\t", "|")


def _check_delimiter(path: Path, names: list[str], delimiter: str, mapping: ColumnMapping) -> None:
    """One column whose header contains another delimiter: the file uses that one."""
    if len(names) != 1:
        return
    header = names[0]
    for candidate in _LIKELY_DELIMITERS:
        if candidate != delimiter and candidate in header:
            raise SourceError(
                f"{path} has no column(s) {mapping.columns()}: it looks delimited by "
                f"{candidate!r}, not {delimiter!r} (its header {header!r} was read as a single "
                f"column). Pass --delimiter {candidate!r}."
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
