"""Timestamps read as the user meant them (`warecast load`).

- Numbers (epoch seconds, milliseconds, ...) carry no unit: they need `--timestamp-unit`
  (pandas alone reads them as nanoseconds, so monthly points collapse into 1970-01-01).
- Text dates such as 02/01/2020 read day-first or month-first alike: they need `--date-format`.
- On a day, week or month grain, a timestamp with a UTC offset keeps the date and time written in
  the file (the offset is dropped); converted to UTC, 2021-01-01T00:00+01:00 would fall in the
  previous month. On an hourly grain, offsets are converted to UTC.

ISO 8601 text (2024-01-31, 2024-01-31T10:00:00Z) and timestamp-typed Parquet columns load as
before.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import datetime

import pandas as pd

# --timestamp-unit: what an integer counts since 1970-01-01 00:00 UTC (pandas' unit).
UNITS = {"s": "s", "ms": "ms", "us": "us", "ns": "ns", "days": "D"}
UNIT_WORDS = {
    "s": "seconds",
    "ms": "milliseconds",
    "us": "microseconds",
    "ns": "nanoseconds",
    "days": "days",
}
# Grains whose periods are calendar dates: a timestamp's date as written decides its period.
CALENDAR_GRAINS = ("day", "week", "month")

# d/m/yyyy, d-m-yyyy, d.m.yyyy (or a two-digit year) at the start of a value.
_NUMERIC_DATE = re.compile(r"^\s*(\d{1,2})([/.-])(\d{1,2})\2(\d{4}|\d{2})(?!\d)(.*)$")
# A trailing UTC offset after a time of day: Z, UTC, GMT, +01, +0100, +01:00.
_OFFSET = re.compile(
    r"^(.*\d:\d{2}(?::\d{2}(?:[.,]\d+)?)?)\s*(?:Z|UTC|GMT|[+-]\d{2}(?::?\d{2})?)$", re.I
)
# The time after a numeric date, to suggest a whole --date-format.
_TIMES = (
    (re.compile(r"^[ T]\d{1,2}:\d{2}:\d{2}$"), "%H:%M:%S"),
    (re.compile(r"^[ T]\d{1,2}:\d{2}$"), "%H:%M"),
)


class TimestampError(ValueError):
    """A timestamp column warecast will not guess about (a SourceError's message)."""


@dataclass(frozen=True)
class TimestampRules:
    """How to read one load's timestamp column."""

    unit: str | None = None  # integers count this since 1970-01-01 UTC (s ms us ns days)
    date_format: str | None = None  # strptime format of text (or of integers like 20200131)
    keep_written_date: bool = False  # day or coarser grain: drop offsets instead of UTC
    grain: str = ""  # for the note: "month"

    @classmethod
    def for_grain(cls, grain: str, unit: str | None = None, date_format: str | None = None):
        return cls(unit or None, date_format or None, grain in CALENDAR_GRAINS, grain)

    def check(self) -> None:
        """The flags themselves: a known unit, a strptime format, not both."""
        if self.unit and self.unit not in UNITS:
            raise TimestampError(
                f"--timestamp-unit {self.unit!r} is not a unit: use one of {', '.join(UNITS)}."
            )
        if self.unit and self.date_format:
            raise TimestampError(
                "--timestamp-unit (for numbers counting from 1970-01-01) and --date-format (for "
                "dates written as text or as numbers like 20200131) exclude each other: pass one."
            )
        if self.date_format is not None and not re.search(r"%[a-zA-Z]", self.date_format):
            raise TimestampError(
                f"--date-format {self.date_format!r} is not a strptime format: write it with % "
                f"codes, e.g. {_as_strptime(self.date_format)}."
            )


def pipeline_grain(settings) -> str:
    """The dbt var grain of a pipeline (orchestration/pipelines.yaml), else dbt_project.yml's."""
    return str(settings.dbt_var("grain") or "month")


def rows_text(bad: pd.Series, limit: int = 5) -> str:
    rows = [int(i) for i in bad[bad].index[:limit]]
    more = f" and {int(bad.sum()) - limit} more" if bad.sum() > limit else ""
    lines = [r + 2 for r in rows]
    return f"rows {rows}{more} (CSV lines {lines}, counting the header as line 1)"


def parse_timestamps(
    column: pd.Series, name: str, source: str, rules: TimestampRules
) -> tuple[pd.Series, str | None]:
    """Naive timestamps (UTC, or as written on a calendar grain) and a note for the user, if any.

    Raises TimestampError naming the column, the rows and the flag to pass.
    """
    rules.check()
    where = f"{source}: column {name!r}"
    if pd.api.types.is_datetime64_any_dtype(column.dtype):
        return _from_datetimes(column, name, rules)
    if pd.api.types.is_bool_dtype(column.dtype):
        raise TimestampError(f"{where} holds true/false values, not timestamps.")
    if pd.api.types.is_numeric_dtype(column.dtype):
        return _from_numbers(column, where, rules), None
    text = column.astype("string")
    if rules.date_format:
        return _with_format(column, text, name, where, rules)
    numbers = pd.to_numeric(text, errors="coerce")
    if text.notna().any() and not (text.notna() & numbers.isna()).any():  # CSV reads text
        return _from_numbers(numbers, where, rules), None
    if rules.unit:
        first = text.dropna()
        raise TimestampError(
            f"{where} holds text such as {first.iloc[0] if len(first) else ''!r}, not numbers: "
            f"--timestamp-unit {rules.unit} is for numbers counting from 1970-01-01. Leave it "
            "out (or pass --date-format for dates like 02/01/2020)."
        )
    _refuse_ambiguous(text, where)
    note = None
    if rules.keep_written_date:
        stripped = text.str.replace(_OFFSET, r"\1", regex=True)
        offset = text.notna() & (stripped != text).fillna(False).astype(bool)
        text, original = stripped, text
    # ISO 8601 in any of its shapes (2024-01-31, 2024-01-31T10:00, with or without offsets);
    # anything else as pandas infers it from the first value, as before.
    parsed = pd.to_datetime(text, format="ISO8601", errors="coerce", utc=True)
    if (text.notna() & parsed.isna()).any():
        parsed = parsed.fillna(pd.to_datetime(text, errors="coerce", utc=True))
    _refuse_unparsed(column, parsed, where)
    parsed = parsed.dt.tz_convert("UTC").dt.tz_localize(None)
    if rules.keep_written_date and offset.any():
        row = offset.idxmax()
        utc = pd.to_datetime(original[row], errors="coerce", utc=True)
        note = _note(name, original[row], parsed[row], utc.tz_convert(None), rules)
    return parsed, note


def _from_datetimes(column: pd.Series, name: str, rules: TimestampRules):
    tz = getattr(column.dt, "tz", None)
    if tz is None:
        return column.astype("datetime64[ns]"), None
    if rules.keep_written_date and str(tz) not in ("UTC", "utc"):
        first = column.dropna()
        note = None
        if len(first):
            when = first.iloc[0]
            note = _note(name, when, when.tz_localize(None), when.tz_convert(None), rules)
        return column.dt.tz_localize(None).astype("datetime64[ns]"), note
    return column.dt.tz_convert("UTC").dt.tz_localize(None).astype("datetime64[ns]"), None


def _from_numbers(column: pd.Series, where: str, rules: TimestampRules) -> pd.Series:
    present = column.notna()
    if rules.date_format:  # 20200131 written as a number
        whole = present & (column.fillna(0) % 1 == 0)
        text = column.where(~whole, column.fillna(0).astype("int64").astype(str))
        text = text.astype("string").where(present)
        parsed = pd.to_datetime(text, format=rules.date_format, errors="coerce")
        _refuse_unparsed(column, parsed, where, rules.date_format)
        return parsed.astype("datetime64[ns]")
    if not rules.unit:
        first = column[present].iloc[0] if present.any() else None
        raise TimestampError(
            f"{where} holds numbers, not dates (e.g. {_number(first)}, row "
            f"{int(present.idxmax())}): warecast cannot tell what they count (read as "
            f"nanoseconds they would all fall on 1970-01-01{_readings(first)}). Pass "
            f"--timestamp-unit {'|'.join(UNITS)} (the unit since 1970-01-01 UTC), or "
            "--date-format %Y%m%d for dates written as numbers like 20200131."
        )
    try:
        parsed = pd.to_datetime(column, unit=UNITS[rules.unit], errors="coerce")
    except (OverflowError, pd.errors.OutOfBoundsDatetime, ValueError):
        parsed = pd.Series(
            [_one(v, rules.unit) for v in column], index=column.index, dtype="datetime64[ns]"
        )
    bad = present & parsed.isna()
    if bad.any():
        raise TimestampError(
            f"{where} has {int(bad.sum())} number(s) that are no date as "
            f"{UNIT_WORDS[rules.unit]} since 1970-01-01 (e.g. {_number(column[bad].iloc[0])}, "
            f"row {int(bad.idxmax())}); {rows_text(bad)}. Check --timestamp-unit, or fix those "
            "rows."
        )
    return parsed.astype("datetime64[ns]")


def _one(value, unit: str):
    try:
        return pd.to_datetime(value, unit=UNITS[unit])
    except (OverflowError, pd.errors.OutOfBoundsDatetime, ValueError):
        return pd.NaT


def _readings(value) -> str:
    """What the first number would be in each unit that gives a date between 1971 and 2200."""
    if value is None:
        return ""
    readings = []
    for unit in UNITS:
        when = _one(value, unit)
        if when is not pd.NaT and 1971 <= when.year <= 2200:
            shown = when.strftime("%Y-%m-%d %H:%M:%S").removesuffix(" 00:00:00")
            readings.append(f"as {UNIT_WORDS[unit]}: {shown}")
    return f"; {_number(value)} {', '.join(readings)}" if readings else ""


def _number(value) -> str:
    if isinstance(value, float) and value.is_integer():
        return str(int(value))
    return str(value)


def _with_format(column: pd.Series, text: pd.Series, name: str, where: str, rules: TimestampRules):
    fmt = str(rules.date_format)
    aware = "%z" in fmt or "%Z" in fmt
    if aware and rules.keep_written_date:  # the wall clock of each value, per distinct value
        values = {v: _strptime(v, fmt) for v in text.dropna().unique()}
        parsed = pd.to_datetime(text.map(values), errors="coerce")
        _refuse_unparsed(column, parsed, where, fmt)
        note = None
        if parsed.notna().any():
            row = parsed.notna().idxmax()
            utc = pd.to_datetime(text[row], format=fmt, utc=True).tz_convert(None)
            note = _note(name, text[row], parsed[row], utc, rules)
        return parsed.astype("datetime64[ns]"), note
    parsed = pd.to_datetime(text, format=fmt, errors="coerce", utc=aware)
    _refuse_unparsed(column, parsed, where, fmt)
    if aware:
        parsed = parsed.dt.tz_convert("UTC").dt.tz_localize(None)
    return parsed.astype("datetime64[ns]"), None


def _strptime(value: str, fmt: str):
    try:
        return datetime.strptime(value, fmt).replace(tzinfo=None)
    except ValueError:
        return None


def _refuse_unparsed(column: pd.Series, parsed: pd.Series, where: str, fmt: str | None = None):
    bad = column.notna() & parsed.isna()
    if not bad.any():
        return
    if fmt:
        raise TimestampError(
            f"{where} has {int(bad.sum())} value(s) that do not match --date-format {fmt!r}, "
            f"e.g. {column[bad].iloc[0]!r} (row {int(bad.idxmax())}); {rows_text(bad)}. "
            "Fix those rows, or pass the format they are written in."
        )
    raise TimestampError(
        f"{where} has {int(bad.sum())} value(s) that are not timestamps, "
        f"e.g. {column[bad].iloc[0]!r} (row {int(bad.idxmax())}); {rows_text(bad)}. "
        "Fix or remove those rows."
    )


def _refuse_ambiguous(text: pd.Series, where: str) -> None:
    """Dates written d/m/y or m/d/y (or with - or .) need --date-format: never guessed."""
    if not text.str.match(r"\s*\d{1,2}[/.-]\d{1,2}[/.-]\d{2}", na=False).any():
        return
    parts = text.str.extract(_NUMERIC_DATE)
    found = parts[0].notna()
    if not found.any():
        return
    first = pd.to_numeric(parts[0], errors="coerce")
    second = pd.to_numeric(parts[2], errors="coerce")
    sep = parts[1][found].iloc[0]
    year = "%Y" if len(parts[3][found].iloc[0]) == 4 else "%y"
    time = next((code for pattern, code in _TIMES if pattern.match(parts[4][found].iloc[0])), None)
    tail = f" {time}" if time else ""
    day_first = f"%d{sep}%m{sep}{year}{tail}"
    month_first = f"%m{sep}%d{sep}{year}{tail}"
    days, months = found & (first > 12), found & (second > 12)
    if days.any() and months.any():
        d, m = int(days.idxmax()), int(months.idxmax())
        raise TimestampError(
            f"{where} mixes day-first and month-first dates: row {d} has {text[d]!r} (day "
            f"first) and row {m} has {text[m]!r} (month first). Write them one way, then pass "
            f"--date-format {day_first} or {month_first}."
        )
    if days.any() or months.any():
        row = int((days if days.any() else months).idxmax())
        looks, fmt = ("day-first", day_first) if days.any() else ("month-first", month_first)
        raise TimestampError(
            f"{where} has dates such as {text[found].iloc[0]!r} that read day-first or "
            f"month-first alike; row {row} has {text[row]!r}, so the file looks {looks}: pass "
            f"--date-format {fmt}."
        )
    examples = _examples(text, found, first, second)
    shown = " and ".join(f"{text[i]!r} (row {i})" for i in examples)
    raise TimestampError(
        f"{where} has dates such as {shown} that read day-first or month-first alike (no day "
        f"above 12 tells them apart). Pass --date-format {day_first} (day first) or "
        f"--date-format {month_first} (month first)."
    )


def _examples(text, found, first, second) -> list[int]:
    """Two rows whose reading depends on the order (day != month), distinct if possible."""
    differ = found & (first != second)
    rows = [int(i) for i in (differ if differ.any() else found)[lambda s: s].index[:200]]
    chosen: list[int] = []
    for row in rows:
        if not chosen or text[row] != text[chosen[0]]:
            chosen.append(row)
        if len(chosen) == 2:
            break
    return chosen


def _note(name: str, example, written, utc, rules: TimestampRules) -> str:
    """One line: the offsets were dropped, with the first such value's two readings."""
    grain = f"this {rules.grain} grain" if rules.grain else "this calendar grain"
    readings = ""
    if not pd.isna(written) and not pd.isna(utc):
        shown, as_utc = pd.Timestamp(written), pd.Timestamp(utc)
        readings = f" ({shown:%Y-%m-%d %H:%M}, not {as_utc:%Y-%m-%d %H:%M} UTC)"
    return (
        f"Column {name!r} has timestamps with UTC offsets (e.g. {str(example)!r}): on {grain} "
        f"each keeps the date and time written{readings} and drops its offset."
    )


def _as_strptime(text: str) -> str:
    """'dd/mm/yyyy' -> '%d/%m/%Y', for the error message."""
    out = text
    for pattern, code in (
        (r"(?i)yyyy", "%Y"),
        (r"(?i)yy", "%y"),
        (r"(?i)dd", "%d"),
        (r"(?i)(?<=:)mm", "%M"),
        (r"(?i)mm", "%m"),
        (r"(?i)hh", "%H"),
        (r"(?i)ss", "%S"),
    ):
        out = re.sub(pattern, code, out)
    return out if "%" in out else "%d/%m/%Y"
