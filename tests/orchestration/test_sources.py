"""User files into the raw shape: clear errors for the usual mistakes."""

from __future__ import annotations

import pandas as pd
import pytest

from orchestration.sources import ColumnMapping, SourceError, read_user_file

MAPPING = ColumnMapping(series_id="store", timestamp="day", value="sales", covariates=["price"])


def _csv(tmp_path, text: str, name: str = "data.csv"):
    path = tmp_path / name
    path.write_text(text)
    return path


def test_csv_maps_columns_and_normalises_time_zones(tmp_path):
    path = _csv(
        tmp_path,
        "store,day,sales,price\na,2024-01-01T00:00:00+01:00,1.5,2\na,2024-01-01T00:00:00Z,2.5,2\n",
    )
    frame = read_user_file(path, MAPPING)
    assert list(frame.columns) == ["series_id", "ts", "value", "price", "loaded_at"]
    assert frame["ts"].tolist() == [pd.Timestamp("2023-12-31 23:00"), pd.Timestamp("2024-01-01")]
    assert frame["ts"].dt.tz is None


def test_parquet_is_read(tmp_path):
    path = tmp_path / "data.parquet"
    pd.DataFrame(
        {"store": ["a"], "day": ["2024-01-01"], "sales": [1.0], "price": [3.0]}
    ).to_parquet(path)
    assert read_user_file(path, MAPPING)["value"].tolist() == [1.0]


def test_missing_column_is_named(tmp_path):
    path = _csv(tmp_path, "store,day,revenue,price\na,2024-01-01,1,2\n")
    with pytest.raises(SourceError, match=r"no column\(s\) \['sales'\].*--value"):
        read_user_file(path, MAPPING)


def test_wrong_delimiter_reports_missing_columns(tmp_path):
    path = _csv(tmp_path, "store;day;sales;price\na;2024-01-01;1;2\n")
    with pytest.raises(SourceError, match="no column"):
        read_user_file(path, MAPPING)
    assert len(read_user_file(path, MAPPING, delimiter=";")) == 1


def test_non_numeric_value_names_row(tmp_path):
    path = _csv(tmp_path, "store,day,sales,price\na,2024-01-01,1,2\na,2024-01-02,lots,2\n")
    with pytest.raises(SourceError, match=r"'sales' has 1 non-numeric.*'lots' \(row 1\)"):
        read_user_file(path, MAPPING)


def test_bad_timestamp_names_row(tmp_path):
    path = _csv(tmp_path, "store,day,sales,price\na,yesterday,1,2\n")
    with pytest.raises(SourceError, match="not timestamps"):
        read_user_file(path, MAPPING)


def test_wrong_encoding_is_explained(tmp_path):
    path = tmp_path / "latin1.csv"
    path.write_bytes("store,day,sales,price\nZürich,2024-01-01,1,2\n".encode("utf-16"))
    with pytest.raises(SourceError, match="UTF-8"):
        read_user_file(path, MAPPING)


def test_hostile_covariate_name_is_rejected(tmp_path):
    path = _csv(tmp_path, 'store,day,sales,"x; drop"\na,2024-01-01,1,2\n')
    mapping = ColumnMapping("store", "day", "sales", covariates=["x; drop"])
    with pytest.raises(ValueError, match="Invalid covariate column name"):
        read_user_file(path, mapping)
