"""Plain-text tables for the quick looks: columns padded, numbers right-aligned."""

from __future__ import annotations

import datetime as dt
import math


def number(value) -> str:
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return ""
    if isinstance(value, int):
        return f"{value:,}"
    magnitude = abs(value)
    if magnitude != 0 and (magnitude >= 1e9 or magnitude < 1e-3):
        return f"{value:.3e}"
    return f"{value:,.3f}" if magnitude < 1000 else f"{value:,.1f}"


def when(value) -> str:
    """A date when it is midnight, else to the second."""
    if value is None:
        return "never"
    if isinstance(value, dt.datetime):
        return value.strftime("%Y-%m-%d" if value.time() == dt.time() else "%Y-%m-%d %H:%M:%S")
    return str(value)


def _numeric(text: str) -> bool:
    try:
        float(text.replace(",", ""))
    except ValueError:
        return False
    return True


def render(headers: list[str], rows: list[list[str]]) -> str:
    widths = [
        max(len(h), *(len(r[i]) for r in rows)) if rows else len(h) for i, h in enumerate(headers)
    ]
    right = [all(_numeric(r[i]) or not r[i] for r in rows) and rows for i in range(len(headers))]

    def line(cells: list[str]) -> str:
        padded = [
            c.rjust(w) if right[i] else c.ljust(w)
            for i, (c, w) in enumerate(zip(cells, widths, strict=True))
        ]
        return "  " + "  ".join(padded).rstrip()

    return "\n".join([line(headers), line(["-" * w for w in widths]), *(line(r) for r in rows)])
