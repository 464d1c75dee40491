"""raw.series_attributes: the --hierarchy columns of a file, one row per series, clear errors."""

from __future__ import annotations

import pandas as pd
import pytest

from orchestration.hierarchy_io import (
    ATTRIBUTES_TABLE,
    attribute_columns,
    keep_series_attributes,
    read_attributes,
    with_declared_levels,
    write_series_attributes,
)
from orchestration.sources import SourceError
from orchestration.warehouse.identifiers import InvalidIdentifierError

LONG = pd.DataFrame(
    {
        "store": ["a", "a", "b", "b", "c"],
        "day": ["2024-01-01", "2024-01-02", "2024-01-01", "2024-01-02", "2024-01-01"],
        "sales": [1.0, 2.0, 3.0, 4.0, 5.0],
        "State": ["NSW", "NSW", "VIC", "VIC", None],
        "Region": ["north", "north", "south", "south", "west"],
    }
)


@pytest.mark.parametrize("suffix", [".csv", ".parquet"])
def test_one_row_per_series_with_its_attributes(tmp_path, suffix):
    path = tmp_path / f"sales{suffix}"
    LONG.to_csv(path, index=False) if suffix == ".csv" else LONG.to_parquet(path, index=False)
    out = read_attributes(path, "store", attribute_columns("state, region"))
    assert list(out.columns) == ["series_id", "state", "region"]
    states = out.set_index("series_id")["state"].fillna("<null>").to_dict()
    assert states == {"a": "NSW", "b": "VIC", "c": "<null>"}
    assert list(out["region"]) == ["north", "south", "west"]


def test_a_series_with_two_values_is_refused_naming_it(tmp_path):
    path = tmp_path / "sales.csv"
    LONG.assign(State=["NSW", "QLD", "VIC", "VIC", None]).to_csv(path, index=False)
    with pytest.raises(SourceError, match=r"series 'a' has 2\+ different values.*'state'"):
        read_attributes(path, "store", ["state"])


def test_missing_or_bad_hierarchy_columns_are_refused(tmp_path):
    path = tmp_path / "sales.csv"
    LONG.to_csv(path, index=False)
    with pytest.raises(SourceError, match=r"no hierarchy column\(s\) \['industry'\]"):
        read_attributes(path, "store", ["state", "industry"])
    with pytest.raises(SourceError, match="twice"):
        attribute_columns("state,State")
    with pytest.raises(InvalidIdentifierError):
        attribute_columns("state; drop table x")


def test_declared_levels_the_load_lacks_become_null_columns(tmp_path):
    import duckdb

    from orchestration.warehouse import Warehouse

    attributes = pd.DataFrame({"series_id": ["a"], "state": ["NSW"]}).astype("string")
    out = with_declared_levels(attributes, ["b", "a"], ["state", "industry"])
    assert list(out["series_id"]) == ["a", "b"]
    assert out["industry"].isna().all() and out["state"].isna().tolist() == [False, True]

    client = Warehouse.from_profile({"type": "duckdb", "path": str(tmp_path / "w.duckdb")})
    write_series_attributes(client, "raw", out)
    # --dataset current with a newly declared level: the table gains it, values are kept.
    keep_series_attributes(client, "raw", ["a", "b"], ["state", "industry", "region"])
    client = None
    with duckdb.connect(str(tmp_path / "w.duckdb"), read_only=True) as con:
        table = con.sql(f"select * from raw.{ATTRIBUTES_TABLE} order by series_id").df()
    assert list(table.columns) == ["series_id", "state", "industry", "region"]
    assert table["state"].tolist()[0] == "NSW"


def test_an_appended_load_keeps_the_other_series_attributes(tmp_path):
    import duckdb

    from orchestration.warehouse import Warehouse

    client = Warehouse.from_profile({"type": "duckdb", "path": str(tmp_path / "w.duckdb")})
    first = pd.DataFrame({"series_id": ["a", "b"], "state": ["NSW", "VIC"]}).astype("string")
    write_series_attributes(client, "raw", first)
    appended = pd.DataFrame({"series_id": ["b", "c"], "state": ["QLD", "TAS"]}).astype("string")
    write_series_attributes(client, "raw", appended, merge=True)
    client = None
    with duckdb.connect(str(tmp_path / "w.duckdb"), read_only=True) as con:
        rows = con.sql(f"select * from raw.{ATTRIBUTES_TABLE} order by series_id").fetchall()
    assert rows == [("a", "NSW"), ("b", "QLD"), ("c", "TAS")]
