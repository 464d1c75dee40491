"""The quick looks' two small reads (read_where, summarize) on DuckDB, PostgreSQL and fakesnow."""

from __future__ import annotations

import datetime as dt

import pyarrow as pa
import pytest

from orchestration.warehouse import WarehouseError
from orchestration.warehouse.identifiers import InvalidIdentifierError
from tests.cli.helpers import client
from tests.reliability.catalogue import HOSTILE_ID

DAY = dt.datetime(2024, 1, 1)


@pytest.fixture(
    params=[
        "duckdb",
        pytest.param("postgres", marks=pytest.mark.postgres),
        "snowflake",
    ]
)
def warehouse(request, warecast_home):
    if request.param == "postgres":
        request.getfixturevalue("pg_database")
    if request.param == "snowflake":
        request.getfixturevalue("fakesnow_database")
    warehouse = client(request.param)
    rows = pa.table(
        {
            "series_id": ["a", "a", HOSTILE_ID, "b"],
            "model_name": ["m", "m", "m", "n"],
            "ts": [DAY, DAY + dt.timedelta(days=1), DAY, DAY + dt.timedelta(days=5)],
            "value": [1.0, 2.0, 3.0, 4.0],
            "flag": [True, False, True, True],
        }
    )
    warehouse.replace_table("marts", "looks", rows)
    return warehouse


def test_read_where_binds_values_and_selects_columns(warehouse):
    hostile = warehouse.read_where("marts", "looks", {"series_id": HOSTILE_ID})
    assert hostile.column("value").to_pylist() == [3.0]
    both = warehouse.read_where("marts", "looks", {"series_id": "a", "model_name": "m"}, ["ts"])
    assert both.column_names == ["ts"] and both.num_rows == 2
    assert warehouse.read_where("marts", "looks", {"flag": False}).num_rows == 1
    assert warehouse.read_where("marts", "looks", {"series_id": "zzz"}).num_rows == 0


def test_summarize_counts_and_finds_the_newest(warehouse):
    whole = warehouse.summarize("marts", "looks", count_distinct=["series_id"], newest=["ts"])
    assert whole.to_pylist() == [
        {"row_count": 4, "series_id_distinct": 3, "ts_newest": DAY + dt.timedelta(days=5)}
    ]
    per_model = warehouse.summarize("marts", "looks", ["model_name"], ["series_id"], ["value"])
    got = {r["model_name"]: (r["row_count"], r["value_newest"]) for r in per_model.to_pylist()}
    assert got == {"m": (3, 3.0), "n": (1, 4.0)}


def test_reads_refuse_missing_tables_unknown_and_hostile_columns(warehouse):
    with pytest.raises(WarehouseError, match=r"marts\.nothing does not exist.*warecast run"):
        warehouse.read_where("marts", "nothing", {"series_id": "a"})
    with pytest.raises(WarehouseError, match=r"no column\(s\) \['colour'\]"):
        warehouse.read_where("marts", "looks", {"colour": "red"})
    with pytest.raises(InvalidIdentifierError):
        warehouse.summarize("marts", "looks", group_by=['x"; drop table marts.looks; --'])
    assert warehouse.read_table("marts", "looks").num_rows == 4
