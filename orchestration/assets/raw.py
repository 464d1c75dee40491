"""raw/observations: the long table every dbt model starts from."""

from collections.abc import Iterator
from pathlib import Path

import dagster as dg
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq

from orchestration.dbt_models import RAW_GROUP, RAW_SCHEMA, RAW_TABLE
from orchestration.file_checks import PARQUET_SUFFIXES, SourceError, inspect_user_file
from orchestration.hierarchy_io import (
    declared_levels,
    keep_series_attributes,
    series_attributes_for,
    write_series_attributes,
)
from orchestration.resources import WarehouseResource
from orchestration.settings import load_pipeline
from orchestration.sources import (
    ColumnMapping,
    demo_frame,
    read_user_file,
    to_raw_frame,
    validate_raw,
)
from orchestration.timestamps import TimestampRules, pipeline_grain
from orchestration.warehouse.loads import LoadRecord, utc_now

RAW_KEY = dg.AssetKey(["raw", "observations"])
# Every load through warecast, one row each (orchestration/warehouse/loads.py): a replace tells
# the next dbt build to refresh fully, appends let it build incrementally.
LOAD_LOG_TABLE = "observation_loads"
LOAD_MODES = ("replace", "append")
# A Parquet file is read, checked and written this many rows at a time (one transaction for the
# whole file all the same): memory follows the batch, not the file.
STREAM_ROWS = 1_000_000


class RawLoadConfig(dg.Config):
    """Where raw.observations comes from on this run.

    dataset: aus_retail | synthetic | file (with `path`) | current (keep the table as loaded,
    e.g. by `warecast load`). Empty means the pipeline's own dataset (orchestration/pipelines.yaml).
    mode: replace (default: the rows become the whole table) | append (the rows are added with
    one loaded_at later than any before; late corrections of old timestamps win over the rows
    they correct; the next dbt build is incremental).
    """

    dataset: str | None = None
    path: str | None = None
    series_id_column: str = "series_id"
    timestamp_column: str = "ts"
    value_column: str = "value"
    covariates: list[str] = []
    delimiter: str = ","
    encoding: str = "utf-8"
    max_series: int | None = None
    hierarchy: list[str] = []  # columns kept in raw.series_attributes (`load --hierarchy`)
    mode: str = "replace"
    # How to read the timestamp column (orchestration/timestamps.py): numbers need a unit
    # (s ms us ns days since 1970-01-01 UTC); dates like 02/01/2020 need a strptime format.
    timestamp_unit: str | None = None
    date_format: str | None = None


@dg.asset(key=RAW_KEY, group_name=RAW_GROUP, kinds={"python"})
def raw_observations(
    context: dg.AssetExecutionContext, config: RawLoadConfig, warehouse: WarehouseResource
) -> dg.MaterializeResult:
    """Raw observations in long form: series_id, ts, value, loaded_at, covariates."""
    dataset = config.dataset or load_pipeline().dataset
    if config.mode not in LOAD_MODES:
        raise ValueError(f"mode must be replace or append, got {config.mode!r}.")
    client = warehouse.client()
    dropped = client.drop_leftover_stage_tables()
    if dropped:
        context.log.warning("Dropped stage tables a crashed run left behind: %s", dropped)
    notes: list[str] = []
    if dataset == "current":
        table = client.read_table(RAW_SCHEMA, RAW_TABLE)
        validate_raw(table, f"{RAW_SCHEMA}.{RAW_TABLE}")
        context.log.info("Keeping the current raw.observations (%d rows).", table.num_rows)
        ids = table.column("series_id").to_pandas()
        keep_series_attributes(client, RAW_SCHEMA, ids, declared_levels())
        rows, series, columns = table.num_rows, len(set(ids)), table.column_names
    elif _streamed(dataset, config):
        series_attributes_for(dataset, config, [], declared_levels())  # checked before writing
        rows, ids, columns = _stream(context, client, config, notes)
        _tell(context, notes)
        attributes = series_attributes_for(dataset, config, ids, declared_levels())
        write_series_attributes(client, RAW_SCHEMA, attributes, merge=config.mode == "append")
        series = len(ids)
    else:
        table = pa.Table.from_pandas(_frame(dataset, config, notes), preserve_index=False)
        # Checked before writing: a bad file never replaces the raw table.
        validate_raw(table, config.path or dataset)
        ids = table.column("series_id").to_pandas()
        attributes = series_attributes_for(dataset, config, ids, declared_levels())
        _write(context, client, table, config.mode)
        write_series_attributes(client, RAW_SCHEMA, attributes, merge=config.mode == "append")
        _tell(context, notes)
        rows, series, columns = table.num_rows, len(set(ids)), table.column_names
    return dg.MaterializeResult(
        metadata={
            "dataset": dataset,
            "mode": "keep" if dataset == "current" else config.mode,
            "dagster/row_count": rows,
            "series": series,
            "columns": columns,
            **({"timestamps": " ".join(notes)} if notes else {}),
        }
    )


def _streamed(dataset: str, config: RawLoadConfig) -> bool:
    """A Parquet file: read a record batch at a time (CSV is read whole)."""
    return (
        dataset == "file"
        and bool(config.path)
        and Path(str(config.path)).suffix.lower() in PARQUET_SUFFIXES
    )


def _stream(
    context, client, config: RawLoadConfig, notes: list[str]
) -> tuple[int, set[str], list[str]]:
    """Load a Parquet file batch by batch, each batch mapped and checked like a whole file
    (errors name the row in the file); one transaction at the end (load_batches), so a bad
    batch leaves the raw table as it was. (rows, series ids, columns)."""
    path = Path(str(config.path))
    mapping = _mapping(config)
    inspect_user_file(path, mapping)
    rules = timestamp_rules(config)
    stamp = pd.Timestamp(utc_now())  # one loaded_at for every row of a replace
    ids: set[str] = set()
    columns: list[str] = []

    def batches() -> Iterator[pa.Table]:
        ids.clear()
        offset = 0
        for batch in _parquet_batches(path, mapping):
            frame = batch.to_pandas()
            frame.index = pd.RangeIndex(offset, offset + len(frame))  # rows named as in the file
            raw = to_raw_frame(frame, mapping, str(path), rules, notes).assign(loaded_at=stamp)
            table = pa.Table.from_pandas(raw, preserve_index=False)
            validate_raw(table, str(path))
            ids.update(pc.unique(table.column("series_id")).to_pylist())
            columns[:] = table.column_names
            offset += len(frame)
            yield table
        if offset == 0:
            raise SourceError(f"{path} has a header but no data rows: nothing to load.")

    record = client.load_batches(
        RAW_SCHEMA, RAW_TABLE, batches, config.mode, "loaded_at", LOAD_LOG_TABLE
    )
    context.log.info(
        "Loaded %d rows of %d series from %s (%s), loaded_at %s.",
        record.row_count,
        record.series,
        path,
        config.mode,
        record.loaded_at,
    )
    return record.row_count, ids, columns


def _parquet_batches(path: Path, mapping: ColumnMapping) -> Iterator[pa.RecordBatch]:
    try:
        parquet = pq.ParquetFile(path)
        names = set(parquet.schema_arrow.names)
        wanted = [c for c in mapping.columns() if c in names]  # a missing one: to_raw_frame says
        yield from parquet.iter_batches(batch_size=STREAM_ROWS, columns=wanted)
    except (pa.ArrowInvalid, OSError) as error:
        raise SourceError(f"{path} is not a readable Parquet file: {error}.") from error


def _write(context: dg.AssetExecutionContext, client, table: pa.Table, mode: str) -> None:
    """Replace the table, or append to it; either way one transaction with its load-log row."""
    if mode == "append":
        record = client.append_rows(RAW_SCHEMA, RAW_TABLE, table, "loaded_at", LOAD_LOG_TABLE)
        context.log.info("Appended %d rows, loaded_at %s.", record.row_count, record.loaded_at)
        return
    record = LoadRecord.of("replace", utc_now(), table)  # the log stamps when it was loaded
    client.replace_table(RAW_SCHEMA, RAW_TABLE, table, log=(LOAD_LOG_TABLE, record))


def _frame(dataset: str, config: RawLoadConfig, notes: list[str]):
    if dataset == "file":
        if not config.path:
            raise ValueError("dataset=file needs `path` (a CSV or Parquet file).")
        mapping = _mapping(config)
        return read_user_file(
            Path(config.path),
            mapping,
            delimiter=config.delimiter,
            encoding=config.encoding,
            timestamps=timestamp_rules(config),
            notes=notes,
        )
    return demo_frame(dataset, config.max_series)


def timestamp_rules(config: RawLoadConfig) -> TimestampRules:
    """The load's timestamp flags, and the pipeline's grain: on a day, week or month grain a
    timestamp keeps the date written in the file (its offset dropped), on hours it becomes UTC."""
    grain = pipeline_grain(load_pipeline())
    return TimestampRules.for_grain(grain, config.timestamp_unit, config.date_format)


def _tell(context: dg.AssetExecutionContext, notes: list[str]) -> None:
    """What the load did with the timestamps: in the event log, and (metadata `timestamps`)
    in the materialization, whose line `warecast load` prints in its summary."""
    for note in notes:
        context.log.info(note)


def _mapping(config: RawLoadConfig) -> ColumnMapping:
    return ColumnMapping(
        series_id=config.series_id_column,
        timestamp=config.timestamp_column,
        value=config.value_column,
        covariates=list(config.covariates),
    )
