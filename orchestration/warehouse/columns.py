"""The columns every warehouse accepts: their portable SQL types and the one Arrow form that
every driver stages cleanly. Below base.py and loads.py, which both write rows through it."""

from __future__ import annotations

import pyarrow as pa


class WarehouseError(RuntimeError):
    pass


def sql_type(arrow_type: pa.DataType) -> str:
    """Portable column type for DuckDB, PostgreSQL and Snowflake."""
    if pa.types.is_timestamp(arrow_type):
        return "timestamp"
    if pa.types.is_floating(arrow_type):
        return "double precision"
    if pa.types.is_integer(arrow_type):
        return "bigint"
    if pa.types.is_boolean(arrow_type):
        return "boolean"
    if pa.types.is_string(arrow_type) or pa.types.is_large_string(arrow_type):
        return "varchar"
    raise WarehouseError(f"Unsupported column type {arrow_type}; cast it before writing.")


def portable(data: pa.Table) -> pa.Table:
    """Microsecond timestamps without zone and plain strings: what every driver stages cleanly."""
    fields = []
    for f in data.schema:
        if pa.types.is_timestamp(f.type):
            if f.type.tz is not None:
                raise WarehouseError(
                    f"Column {f.name!r} has time zone {f.type.tz}; convert to naive UTC first."
                )
            fields.append(pa.field(f.name, pa.timestamp("us")))
        elif pa.types.is_large_string(f.type) or pa.types.is_dictionary(f.type):
            fields.append(pa.field(f.name, pa.string()))
        else:
            fields.append(f)
    return data.cast(pa.schema(fields))
