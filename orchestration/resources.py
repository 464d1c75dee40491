"""Dagster resources: the warehouse (from profiles.yml) and the MLflow tracking store."""

from pathlib import Path

import dagster as dg

from orchestration.settings import PROFILES_DIR
from orchestration.warehouse import Warehouse
from orchestration.warehouse.profiles import load_target


class WarehouseResource(dg.ConfigurableResource):
    """The warehouse behind a profiles.yml target. Credentials stay in profiles.yml/env vars."""

    target: str = "duckdb"
    profiles_dir: str = str(PROFILES_DIR)

    def client(self) -> Warehouse:
        return Warehouse.from_profile(load_target(Path(self.profiles_dir), self.target))
