"""Analyst overrides (seeds/forecast_overrides.csv) on DuckDB, built by dbt as `warecast run` does.

A value and a multiplier override, overlapping so the newer one must win, are applied to the
model's forecasts in marts.fct_forecasts_published; the band stays ordered; a retrained model's
forecasts (new version, new origin) get the same overrides for the same periods; the lineage
mart says the number came from a person. A seed with malformed rows fails `dbt build` naming
every bad row.
"""

from __future__ import annotations

import pandas as pd
import pytest

from tests.dbt.forecast_marts import (
    client,
    copy_project,
    forecast_frame,
    run_dbt,
    write_forecasts,
    write_lineage,
    write_raw,
)

A, B = "A3349335T", "A3349627V"  # aus_retail-style series ids
SELECT = ["--select", "+fct_forecast_lineage", "+dim_series"]


def _override(oid, series, start, end, value=None, multiplier=None, created="2026-02-01"):
    return {
        "override_id": oid,
        "series_id": series,
        "target_ts_from": start,
        "target_ts_to": end,
        "value": value,
        "multiplier": multiplier,
        "reason": f"reason of {oid}",
        "author": f"author of {oid}",
        "created_at": created,
    }


OVERRIDES = [
    _override("abs-a", A, "2019-01-01", "2019-02-01", value=150.0),
    # newer and overlapping abs-a in 2019-02: it wins there
    _override("half-a", A, "2019-02-01", "2019-02-01", multiplier=0.5, created="2026-03-01"),
    _override("up-b", B, "2019-02-01", "2019-03-01", multiplier=1.2),
]


@pytest.fixture
def built(warecast_home, tmp_path):
    """Raw history to 2018-12, version 1's forecasts from 2018-12, the marts built by dbt."""
    warehouse = client()
    write_raw(warehouse, {A: [100.0 + i for i in range(24)], B: [50.0] * 24}, "2017-01-01")
    bands = {A: [(80.0, 100.0, 130.0)] * 3, B: [(40.0, 50.0, 60.0)] * 3}
    write_forecasts(warehouse, forecast_frame(bands, "2018-12-01", "1"))
    write_lineage(warehouse, "1")
    project = copy_project(tmp_path, OVERRIDES)
    run_dbt(project, "build", *SELECT)
    return warehouse


def _published(warehouse) -> pd.DataFrame:
    frame = warehouse.read_table("marts", "fct_forecasts_published").to_pandas()
    return frame.set_index(["series_id", "target_ts"]).sort_index()


def _band(frame, series, month, prefix=""):
    row = frame.loc[(series, pd.Timestamp(month))]
    return tuple(float(row[f"{prefix}{q}"]) for q in ("p10", "p50", "p90"))


def test_overrides_apply_and_survive_a_retrain(built):
    published = _published(built)
    assert _band(published, A, "2019-01-01") == (130.0, 150.0, 180.0)  # moved, widths kept
    assert _band(published, A, "2019-02-01") == (40.0, 50.0, 65.0)  # the newer multiplier
    assert _band(published, A, "2019-03-01") == (80.0, 100.0, 130.0)  # not overridden
    assert _band(published, B, "2019-01-01") == (40.0, 50.0, 60.0)
    assert _band(published, B, "2019-03-01") == pytest.approx((48.0, 60.0, 72.0))
    assert _band(published, A, "2019-01-01", "model_") == (80.0, 100.0, 130.0)
    by_id = published.reset_index().set_index("override_id")
    assert by_id.loc["abs-a", "override_author"] == "author of abs-a"
    assert by_id.loc["half-a", "override_reason"] == "reason of half-a"
    assert published["is_overridden"].sum() == 4 and published["override_id"].notna().sum() == 4
    assert set(published["published_by"]) == {"model", "analyst"}
    _assert_ordered(published)
    _assert_lineage_names_the_person(built)

    # Retrain: version 2 forecasts from 2019-01 (2019-02..04); the overrides follow the periods.
    bands = {A: [(90.0, 110.0, 140.0)] * 3, B: [(45.0, 55.0, 70.0)] * 3}
    write_forecasts(built, forecast_frame(bands, "2019-01-01", "2"))
    write_lineage(built, "2")
    published = _published(built)  # a view: no rebuild needed
    assert set(published["model_version"]) == {"2"}
    assert _band(published, A, "2019-02-01") == (45.0, 55.0, 70.0)
    assert _band(published, A, "2019-03-01") == (90.0, 110.0, 140.0)
    assert _band(published, B, "2019-02-01") == pytest.approx((54.0, 66.0, 84.0))
    assert _band(published, B, "2019-04-01") == (45.0, 55.0, 70.0)
    assert published.loc[(A, pd.Timestamp("2019-02-01")), "override_id"] == "half-a"
    _assert_ordered(published)


def _assert_lineage_names_the_person(warehouse) -> None:
    """fct_forecast_lineage: the published number came from a person, who and why."""
    lineage = warehouse.read_table("marts", "fct_forecast_lineage").to_pandas()
    lineage = lineage.set_index(["series_id", "target_ts"]).sort_index()
    person = lineage.loc[(A, pd.Timestamp("2019-01-01"))]
    assert person["published_by"] == "analyst" and bool(person["is_published"])
    assert person["override_author"] == "author of abs-a"
    assert person["override_reason"] == "reason of abs-a"
    assert (person["p50"], person["published_p50"]) == (100.0, 150.0)
    assert person["model_version"] == "1" and person["mlflow_run_id"] == "mlflow-run-v1"
    model = lineage.loc[(A, pd.Timestamp("2019-03-01"))]
    assert model["published_by"] == "model" and pd.isna(model["override_author"])


def _assert_ordered(frame: pd.DataFrame) -> None:
    assert ((frame["p10"] <= frame["p50"]) & (frame["p50"] <= frame["p90"])).all()


BAD = [
    _override("bad-series", "NOT_A_SERIES", "2019-01-01", "2019-01-01", value=1.0),
    _override("bad-both", A, "2019-01-01", "2019-01-01", value=1.0, multiplier=2.0),
    _override("bad-neither", A, "2019-01-01", "2019-01-01"),
    _override("bad-range", A, "2019-03-01", "2019-01-01", value=1.0),
    _override("bad-multiplier", B, "2019-01-01", "2019-01-01", multiplier=0.0),
    {**_override("bad-reason", B, "2019-01-01", "2019-01-01", value=1.0), "reason": " "},
    {**_override("bad-author", B, "2019-01-01", "2019-01-01", value=1.0), "author": None},
    *[_override("bad-twice", B, "2019-02-01", "2019-02-01", value=1.0)] * 2,
]


def test_malformed_overrides_fail_the_build_naming_each_row(warecast_home, tmp_path):
    warehouse = client()
    write_raw(warehouse, {A: [100.0] * 24, B: [50.0] * 24}, "2017-01-01")
    write_forecasts(
        warehouse,
        forecast_frame({A: [(8.0, 10.0, 12.0)], B: [(8.0, 10.0, 12.0)]}, "2018-12-01", "1"),
    )
    project = copy_project(tmp_path, [OVERRIDES[0], *BAD])
    done = run_dbt(
        project, "build", "--select", "+fct_forecasts_published", "+dim_series", check=False
    )
    output = done.stdout + done.stderr
    assert done.returncode != 0, output[-4000:]
    assert "Failure in test forecast_overrides_are_valid" in output, output[-4000:]
    for row in BAD:
        assert f"override_id '{row['override_id']}'" in output, (row, output[-4000:])
    assert "override_id 'abs-a'" not in output
    assert "NOT_A_SERIES is not a known series" in output
    # Whatever was built, a malformed row never moves a published number.
    if warehouse.table_exists("marts", "fct_forecasts_published"):
        published = _published(warehouse)
        assert set(published["override_id"].dropna()) <= {"abs-a"}
