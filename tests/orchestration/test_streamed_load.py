"""A Parquet load read a record batch at a time: same rows as a whole read, one transaction.

STREAM_ROWS is set to a few rows, so a small file goes through several batches.
"""

from __future__ import annotations

import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from tests.reliability.harness import failure_messages, run_job

COLUMNS = {"series_id_column": "store", "timestamp_column": "day", "value_column": "sales"}


@pytest.fixture(params=["duckdb", pytest.param("postgres", marks=pytest.mark.postgres)])
def loaded(request, warecast_home, monkeypatch, tmp_path):
    """(definitions, warehouse client, load(path, **config)) on a fresh warehouse."""
    if request.param == "postgres":
        request.getfixturevalue("pg_database")
    from orchestration.assets import raw
    from orchestration.definitions import build_definitions

    monkeypatch.setattr(raw, "STREAM_ROWS", 4)
    defs = build_definitions(request.param)
    client = defs.resources["warehouse"].client()

    def load(path, **config):
        config = {"dataset": "file", "path": str(path), **COLUMNS, **config}
        return run_job(defs, raw=config, selection=[raw.RAW_KEY])

    return client, load


def _file(path, n_series: int = 3, hours: int = 5, **bad) -> pd.DataFrame:
    frame = pd.DataFrame(
        {
            "store": [f"s{i}" for i in range(n_series) for _ in range(hours)],
            "day": list(pd.date_range("2024-01-01", periods=hours, freq="h")) * n_series,
            "sales": [float(v) for v in range(n_series * hours)],
            "price": [1.5] * (n_series * hours),
        }
    )
    for row, value in bad.items():
        frame.loc[int(row.removeprefix("row")), "sales"] = value
    pq.write_table(pa.Table.from_pandas(frame, preserve_index=False), path)
    return frame


def _raw(client) -> pd.DataFrame:
    frame = client.read_table("raw", "observations").to_pandas()
    return frame.sort_values(["series_id", "ts"], ignore_index=True)


def test_parquet_in_batches_loads_every_row_with_one_stamp(loaded, tmp_path):
    client, load = loaded
    frame = _file(tmp_path / "a.parquet")
    result = load(tmp_path / "a.parquet", covariates=["price"])
    assert result.success, failure_messages(result)
    raw = _raw(client)
    assert raw["series_id"].tolist() == frame["store"].tolist()
    assert raw["value"].tolist() == frame["sales"].tolist()
    assert raw["price"].eq(1.5).all() and raw["loaded_at"].nunique() == 1
    (event,) = result.asset_materializations_for_node("raw__observations")
    assert event.metadata["dagster/row_count"].value == 15 and event.metadata["series"].value == 3
    log = client.read_table("raw", "observation_loads").to_pandas()
    assert log[["mode", "row_count", "series"]].values.tolist() == [["replace", 15, 3]]

    _file(tmp_path / "b.parquet", n_series=1, hours=9)  # appended: later stamp, rows added
    assert load(tmp_path / "b.parquet", mode="append", covariates=["price"]).success
    raw = _raw(client)
    assert len(raw) == 24 and raw["loaded_at"].nunique() == 2
    assert not [t for t in client.leftover_stage_tables() if t.startswith("raw.")]


def test_a_bad_row_in_a_later_batch_changes_nothing_and_is_named(loaded, tmp_path):
    client, load = loaded
    _file(tmp_path / "good.parquet")
    assert load(tmp_path / "good.parquet").success
    before = _raw(client)
    _file(tmp_path / "bad.parquet", row13=1e308)  # the fourth batch of four rows
    result = load(tmp_path / "bad.parquet")
    assert not result.success
    assert "'sales' has 1 value(s) beyond ±1e+150" in failure_messages(result)
    assert "(row 13)" in failure_messages(result)
    pd.testing.assert_frame_equal(_raw(client), before)
    assert len(client.read_table("raw", "observation_loads")) == 1
    assert not [t for t in client.leftover_stage_tables() if t.startswith("raw.")]
