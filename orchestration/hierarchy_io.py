"""raw.series_attributes: each series' hierarchy attributes, written next to raw.observations.

One row per series: series_id plus one varchar column per attribute (e.g. state, industry).
The demo data set brings its own (ml.datasets.aus_retail_attributes); a user's file brings the
columns `warecast load --hierarchy state,industry` names (one value per series). Levels the
pipeline declares (pipelines.yaml `hierarchy.levels`) that the load lacks become null columns,
so marts.dim_hierarchy always builds (with no members until they are loaded).
"""

from __future__ import annotations

from pathlib import Path

import pandas as pd
import pyarrow as pa
import pyarrow.csv as pacsv
import pyarrow.parquet as pq

from orchestration.file_checks import PARQUET_SUFFIXES, SourceError, _csv_options
from orchestration.warehouse.identifiers import checked

ATTRIBUTES_TABLE = "series_attributes"


def attribute_columns(names: list[str] | str | None) -> list[str]:
    """`--hierarchy state,industry` (or a list) as checked lowercase column names."""
    if isinstance(names, str):
        names = names.split(",")
    out = [checked(n.strip(), "hierarchy column name").lower() for n in names or [] if n.strip()]
    if len(set(out)) != len(out):
        raise SourceError(f"--hierarchy names a column twice: {out}.")
    if "series_id" in out:
        raise SourceError("--hierarchy cannot name series_id: the series are the bottom level.")
    return out


def attributes_from_frame(
    frame: pd.DataFrame, series_id: str, columns: list[str], source: str
) -> pd.DataFrame:
    """One row per series from a long frame; a series with two values of a column is an error."""
    by_lower = {str(c).lower(): c for c in frame.columns}
    missing = [c for c in columns if c not in by_lower]
    if missing:
        raise SourceError(
            f"{source} has no hierarchy column(s) {missing}; it has {list(frame.columns)}. "
            "Name existing columns with --hierarchy."
        )
    picked = frame[[series_id, *(by_lower[c] for c in columns)]].copy()
    picked.columns = ["series_id", *columns]
    picked["series_id"] = picked["series_id"].astype("string")
    for column in columns:
        stripped = picked[column].astype("string").str.strip()
        picked[column] = stripped.mask(stripped == "")  # an empty cell is no value
    distinct = picked.drop_duplicates()
    for column in columns:
        counts = distinct.dropna(subset=[column]).groupby("series_id")[column].nunique()
        conflicting = counts[counts > 1]
        if not conflicting.empty:
            sid = conflicting.index[0]
            values = sorted(distinct.loc[distinct["series_id"] == sid, column].dropna())[:3]
            raise SourceError(
                f"{source}: series {sid!r} has {len(values)}+ different values in hierarchy column "
                f"{column!r} ({values}); {len(conflicting)} series in all. A series belongs to "
                "one node per level: fix those rows, or leave the column out of --hierarchy."
            )
    return distinct.groupby("series_id", as_index=False).first()


def read_attributes(
    path: Path,
    series_id: str,
    columns: list[str],
    delimiter: str = ",",
    encoding: str = "utf-8",
) -> pd.DataFrame:
    """The series id and hierarchy columns of a user's CSV or Parquet file."""
    path = Path(path)
    if path.suffix.lower() in PARQUET_SUFFIXES:
        names = pq.read_schema(path).names
        _check_present(names, columns, path)
        table = pq.read_table(path, columns=_wanted(names, series_id, columns))
    else:
        read_options, parse_options = _csv_options(delimiter, encoding)
        header = pacsv.open_csv(path, read_options=read_options, parse_options=parse_options)
        names = header.schema.names
        header.close()
        _check_present(names, columns, path)
        convert = pacsv.ConvertOptions(
            include_columns=_wanted(names, series_id, columns),
            column_types={n: pa.string() for n in names},
        )
        table = pacsv.read_csv(path, read_options, parse_options, convert)
    return attributes_from_frame(table.to_pandas(), series_id, columns, str(path))


def _wanted(names: list[str], series_id: str, columns: list[str]) -> list[str]:
    return [n for n in names if n == series_id or n.lower() in columns]


def _check_present(names: list[str], columns: list[str], path: Path) -> None:
    missing = [c for c in columns if c not in {n.lower() for n in names}]
    if missing:
        raise SourceError(
            f"{path} has no hierarchy column(s) {missing}; it has {names}. "
            "Name existing columns with --hierarchy."
        )


def with_declared_levels(
    attributes: pd.DataFrame | None, series_ids, levels: list[str]
) -> pd.DataFrame:
    """Every loaded series once; declared levels the load lacks as null columns."""
    ids = pd.DataFrame({"series_id": pd.Series(sorted(set(series_ids)), dtype="string")})
    if attributes is not None:
        ids = ids.merge(attributes, on="series_id", how="left")
    for level in levels:
        if level not in ids.columns:
            ids[level] = pd.Series(pd.NA, index=ids.index, dtype="string")
    return ids


def write_series_attributes(
    client, schema: str, attributes: pd.DataFrame, merge: bool = False
) -> int:
    """Replace raw.series_attributes atomically (every column varchar). merge (an appended
    load): series the load does not name keep their rows; the load's rows win for its series."""
    if merge and client.table_exists(schema, ATTRIBUTES_TABLE):
        existing = client.read_table(schema, ATTRIBUTES_TABLE).to_pandas()
        existing.columns = [str(c).lower() for c in existing.columns]
        kept = existing[~existing["series_id"].isin(set(attributes["series_id"].dropna()))]
        attributes = pd.concat([kept.astype("string"), attributes], ignore_index=True)
        attributes = attributes.sort_values("series_id", ignore_index=True)
    arrays = {c: pa.array(attributes[c].astype("object"), type=pa.string()) for c in attributes}
    return client.replace_table(schema, ATTRIBUTES_TABLE, pa.table(arrays))


def series_attributes_for(dataset: str, config, series_ids, levels: list[str]) -> pd.DataFrame:
    """What raw/observations writes to raw.series_attributes for this load (checked before
    anything is written): the demo's own attributes, or the file's --hierarchy columns."""
    attributes = None
    if dataset == "aus_retail":
        from ml.datasets import aus_retail_attributes

        attributes = aus_retail_attributes()
    elif dataset == "file" and config.hierarchy:
        columns = attribute_columns(list(config.hierarchy))
        attributes = read_attributes(
            Path(config.path), config.series_id_column, columns, config.delimiter, config.encoding
        )
    return with_declared_levels(attributes, series_ids, levels)


def declared_levels() -> list[str]:
    """The current pipeline's hierarchy levels ([] when it declares none)."""
    from orchestration.settings import load_pipeline

    hierarchy = load_pipeline().hierarchy
    return list(hierarchy.levels) if hierarchy else []


def keep_series_attributes(client, schema: str, series_ids, levels: list[str]) -> None:
    """`--dataset current`: keep the table, adding declared levels it lacks (as nulls)."""
    existing = None
    if client.table_exists(schema, ATTRIBUTES_TABLE):
        existing = client.read_table(schema, ATTRIBUTES_TABLE).to_pandas()
        existing.columns = [str(c).lower() for c in existing.columns]
        if set(levels) <= set(existing.columns):
            return
        existing = existing.astype({c: "string" for c in existing.columns})
    ids = pd.Series(series_ids, dtype="string").dropna().unique()
    write_series_attributes(client, schema, with_declared_levels(existing, ids, levels))
