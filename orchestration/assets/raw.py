"""raw/observations: the long table every dbt model starts from."""

from pathlib import Path

import dagster as dg
import pyarrow as pa

from orchestration.resources import WarehouseResource
from orchestration.settings import load_pipeline
from orchestration.sources import ColumnMapping, demo_frame, read_user_file, validate_raw

RAW_KEY = dg.AssetKey(["raw", "observations"])
RAW_SCHEMA, RAW_TABLE = "raw", "observations"


class RawLoadConfig(dg.Config):
    """Where raw.observations comes from on this run.

    dataset: aus_retail | synthetic | file (with `path`) | current (keep the table as loaded,
    e.g. by `warecast load`). Empty means the pipeline's own dataset (orchestration/pipelines.yaml).
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


@dg.asset(key=RAW_KEY, group_name="raw", kinds={"python"})
def raw_observations(
    context: dg.AssetExecutionContext, config: RawLoadConfig, warehouse: WarehouseResource
) -> dg.MaterializeResult:
    """Raw observations in long form: series_id, ts, value, loaded_at, covariates."""
    dataset = config.dataset or load_pipeline().dataset
    client = warehouse.client()
    dropped = client.drop_leftover_stage_tables()
    if dropped:
        context.log.warning("Dropped stage tables a crashed run left behind: %s", dropped)
    if dataset == "current":
        table = client.read_table(RAW_SCHEMA, RAW_TABLE)
        validate_raw(table, f"{RAW_SCHEMA}.{RAW_TABLE}")
        context.log.info("Keeping the current raw.observations (%d rows).", table.num_rows)
    else:
        table = pa.Table.from_pandas(_frame(dataset, config), preserve_index=False)
        # Checked before writing: a bad file never replaces the raw table.
        validate_raw(table, config.path or dataset)
        client.replace_table(RAW_SCHEMA, RAW_TABLE, table)
    return dg.MaterializeResult(
        metadata={
            "dataset": dataset,
            "dagster/row_count": table.num_rows,
            "series": len(table.column("series_id").unique()),
            "columns": table.column_names,
        }
    )


def _frame(dataset: str, config: RawLoadConfig):
    if dataset == "file":
        if not config.path:
            raise ValueError("dataset=file needs `path` (a CSV or Parquet file).")
        mapping = ColumnMapping(
            series_id=config.series_id_column,
            timestamp=config.timestamp_column,
            value=config.value_column,
            covariates=list(config.covariates),
        )
        return read_user_file(
            Path(config.path), mapping, delimiter=config.delimiter, encoding=config.encoding
        )
    return demo_frame(dataset, config.max_series)
