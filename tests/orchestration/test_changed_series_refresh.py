"""Day N on DuckDB, real Dagster runs: only series whose features changed get new forecasts.

4 aus_retail series, read in batches of one series (WARECAST_BATCH_ROWS), a tiny LightGBM
champion. After the first run, one series gains a month and another gets a late correction:
the refresh (dbt + forecasts, no training) rewrites exactly those two, every other series
keeps its rows, created_at and dagster_run_id; a refresh with nothing new writes nothing.
"""

from __future__ import annotations

import dagster as dg
import pandas as pd
import pytest

from ml.datasets import load_aus_retail

N_SERIES, HORIZON = 4, 24
FORECASTS = dg.AssetKey(["ml", "forecasts"])
TRAINED = dg.AssetKey(["ml", "trained_model"])
BACKTESTS = dg.AssetKey(["ml", "backtests"])

pytestmark = [pytest.mark.e2e, pytest.mark.timeout(600)]


@pytest.fixture(scope="module")
def subset() -> pd.DataFrame:
    frame = load_aus_retail()
    keep = sorted(frame["series_id"].unique())[:N_SERIES]
    frame = frame[frame["series_id"].isin(keep)]
    return frame.groupby("series_id").tail(120).reset_index(drop=True)


def _run(defs, keys, path=None) -> dg.ExecuteInProcessResult:
    ops = {
        "ml__backtests": {"config": {"models": ["lightgbm:tiny"], "cutoffs": 1}},
        "ml__trained_model": {"config": {"model_preset": "tiny", "progress_bar": False}},
    }
    if path is not None:
        ops["raw__observations"] = {"config": {"dataset": "file", "path": str(path)}}
    job = defs.resolve_job_def("forecast_pipeline")
    return job.execute_in_process(
        run_config={"ops": {k: v for k, v in ops.items() if _selected(k, keys)}},
        instance=dg.DagsterInstance.ephemeral(),
        asset_selection=list(keys),
        raise_on_error=False,
    )


def _selected(op: str, keys) -> bool:
    return any("__".join(key.path) == op for key in keys)


def _forecasts(defs) -> pd.DataFrame:
    frame = defs.resources["warehouse"].client().read_table("ml", "forecasts").to_pandas()
    return frame.sort_values(["series_id", "forecast_origin", "horizon_step"], ignore_index=True)


def _written(result) -> dict:
    (materialization,) = result.asset_materializations_for_node("ml__forecasts")
    return {k: v.value for k, v in materialization.metadata.items()}


def test_refresh_forecasts_only_the_series_whose_features_changed(
    warecast_home, tmp_path, subset, monkeypatch
):
    from orchestration.definitions import build_definitions

    monkeypatch.setenv("WARECAST_BATCH_ROWS", "150")  # every series is a batch of its own
    defs = build_definitions("duckdb")
    graph = defs.resolve_asset_graph()
    first_keys = dg.AssetSelection.keys(FORECASTS).upstream().resolve(graph)
    path = tmp_path / "raw.parquet"
    subset.to_parquet(path, index=False)
    first = _run(defs, first_keys, path)
    assert first.success
    assert _written(first)["series_refreshed"] == N_SERIES
    before = _forecasts(defs)
    assert before["series_id"].nunique() == N_SERIES and len(before) == N_SERIES * HORIZON

    ids = sorted(subset["series_id"].unique())
    grown, corrected = ids[0], ids[2]
    newer = subset[subset["series_id"] == grown].tail(1).copy()
    newer["ts"] = newer["ts"] + pd.DateOffset(months=1)
    changed = pd.concat([subset, newer], ignore_index=True)
    old_row = (changed["series_id"] == corrected) & (changed["ts"] == changed["ts"].min())
    changed.loc[old_row, "value"] *= 1.5  # a late correction of an old period
    changed.to_parquet(path, index=False)

    refresh = first_keys - {TRAINED, BACKTESTS}  # raw, dbt, forecasts: no training
    second = _run(defs, refresh, path)
    assert second.success
    written = _written(second)
    assert (written["series_refreshed"], written["series_kept"]) == (2, N_SERIES - 2)
    assert written["dagster/row_count"] == 2 * HORIZON
    after = _forecasts(defs)
    run_of = second.run_id
    for sid in ids:
        old, new = before[before["series_id"] == sid], after[after["series_id"] == sid]
        if sid in (grown, corrected):
            newest = new[new["forecast_origin"] == new["forecast_origin"].max()]
            assert set(newest["dagster_run_id"]) == {run_of}
            assert (newest["created_at"] > old["created_at"].max()).all()
        else:  # untouched: the same rows, lineage and all
            pd.testing.assert_frame_equal(new.reset_index(drop=True), old.reset_index(drop=True))
    grown_rows = after[after["series_id"] == grown]
    assert grown_rows["forecast_origin"].nunique() == 2  # the old origin's rows stay as history
    corrected_rows = after[after["series_id"] == corrected]
    assert len(corrected_rows) == HORIZON  # same origin: replaced, never duplicated

    third = _run(defs, refresh, path)
    assert third.success
    assert _written(third)["series_refreshed"] == 0 and _written(third)["dagster/row_count"] == 0
    pd.testing.assert_frame_equal(_forecasts(defs), after)
