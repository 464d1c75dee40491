"""Warehouse clients: one interface (`Warehouse`), one implementation per dbt adapter type."""

from orchestration.warehouse.base import Warehouse, WarehouseError
from orchestration.warehouse.duckdb import DuckDBWarehouse
from orchestration.warehouse.postgres import PostgresWarehouse
from orchestration.warehouse.snowflake import SnowflakeWarehouse

__all__ = [
    "DuckDBWarehouse",
    "PostgresWarehouse",
    "SnowflakeWarehouse",
    "Warehouse",
    "WarehouseError",
]
