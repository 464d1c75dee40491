"""Plots where people look: Dagster metadata (rendered in the UI) and the same PNGs in MLflow.

A PNG is logged as an artefact of the MLflow run the asset belongs to (`plots/...png`) and goes
into Dagster metadata twice, as markdown (`MetadataValue.md`):
- `fan_chart`: an image served by the MLflow UI (settings.mlflow_ui_url). The Dagster UI shows
  markdown of under 1,000 characters inline, on the asset's page and in its events, so the chart
  is the first thing there, without a click, while `make mlflow-ui` runs;
- `fan_chart_embedded`: the PNG itself as a data URI (its markdown sanitiser allows `data:`
  images), behind "[Show Markdown]": it needs no server.
The browser test (tests/ui/test_browser.py) checks both render. The leaderboard goes in as a
`MetadataValue.table`.

A plot (or the leaderboard) that fails to render never fails the asset (its data is already
written): the metadata then says why, and the run log has a warning.
"""

from __future__ import annotations

import base64
import math
import tempfile
from pathlib import Path

import dagster as dg
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc

from orchestration.dbt_models import FEATURES_MODEL, RAW_SCHEMA, relation_of
from orchestration.settings import load_pipeline, mlflow_ui_url
from orchestration.tracking import MlflowTracking, artifact_url

FAN_SERIES = 4
LABEL_WIDTH = 60  # characters of a panel's title that fit above it
FORECAST_CHART = "plots/forecast_fan_chart.png"
BACKTEST_CHART = "plots/backtest_fan_chart.png"
EXPLANATION_CHART = "plots/forecast_explanations.png"
LEADERBOARD_COLUMNS = [
    "rank",
    "model",
    "preset",
    "mase",
    "mase_vs_seasonal_naive",
    "smape",
    "coverage_80",
    "pinball_mean",
    "share_fallback",
    "fit_seconds",
]


def image_markdown(png: bytes, caption: str) -> dg.MetadataValue:
    """Markdown the Dagster UI renders as the image (a data URI) with a caption."""
    encoded = base64.b64encode(png).decode("ascii")
    return dg.MetadataValue.md(f"**{caption}**\n\n![{caption}](data:image/png;base64,{encoded})")


def chart_metadata(key: str, png: bytes, caption: str, run_id: str, artifact_file: str) -> dict:
    """The chart shown inline (served by the MLflow UI), then the same PNG embedded."""
    url = artifact_url(mlflow_ui_url(), run_id, artifact_file)
    inline = f"**{caption}** (served by the MLflow UI: `make mlflow-ui`)\n\n![{caption}]({url})"
    return {
        key: dg.MetadataValue.md(inline),
        f"{key}_embedded": image_markdown(png, caption),
    }


def log_png(tracking: MlflowTracking, run_id: str, png: bytes, artifact_file: str) -> None:
    """Log `png` as `artifact_file` of the (possibly finished) MLflow run `run_id`."""
    from mlflow import MlflowClient

    folder, name = str(Path(artifact_file).parent), Path(artifact_file).name
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / name
        path.write_bytes(png)
        MlflowClient(tracking_uri=tracking.tracking_uri).log_artifact(run_id, str(path), folder)


def leaderboard_table(board: pd.DataFrame) -> dg.MetadataValue:
    """The backtest leaderboard as a Dagster table (NaN shown as empty), the CLI's columns."""
    board = with_seasonal_naive_ratio(board)
    columns = [c for c in LEADERBOARD_COLUMNS if c in board.columns]
    types = {c: _table_type(board[c]) for c in columns}
    records = [
        dg.TableRecord({c: _cell(row[c], types[c]) for c in columns})
        for _, row in board[columns].iterrows()
    ]
    schema = dg.TableSchema(columns=[dg.TableColumn(c, types[c]) for c in columns])
    return dg.MetadataValue.table(records=records, schema=schema)


def with_seasonal_naive_ratio(board: pd.DataFrame) -> pd.DataFrame:
    """mase_vs_seasonal_naive as the leaderboard mart computes it, where a board lacks it."""
    if "mase_vs_seasonal_naive" in board.columns or "mase" not in board.columns:
        return board
    naive = board.loc[board["model"] == "seasonal_naive", "mase"]
    if naive.empty:  # no baseline compared: no column, rather than one of blanks
        return board
    return board.assign(mase_vs_seasonal_naive=board["mase"] / naive.iloc[0])


def _table_type(column: pd.Series) -> str:
    if pd.api.types.is_integer_dtype(column):
        return "int"
    return "float" if pd.api.types.is_float_dtype(column) else "string"


def _cell(value, kind: str):
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return None
    return {"int": int, "float": lambda v: round(float(v), 4)}.get(kind, str)(value)


def read_history(warehouse, series: list[str]) -> pd.DataFrame:
    """series_id, ts, value of a few series from the feature mart (one bound read each)."""
    schema, table = relation_of(FEATURES_MODEL)
    client = warehouse.client()
    parts = [
        client.read_where(schema, table, {"series_id": sid}, ["series_id", "ts", "value"])
        for sid in series
    ]
    frames = [p.to_pandas() for p in parts if p.num_rows]
    if not frames:
        return pd.DataFrame({"series_id": [], "ts": [], "value": []})
    return pd.concat(frames, ignore_index=True)


def series_labels(warehouse, series: list[str]) -> dict[str, str]:
    """Each series' id and its attributes from raw.series_attributes (the hierarchy's columns),
    where that table has them: 'A3349335T: New South Wales, Supermarket and grocery stores'."""
    from orchestration.hierarchy_io import ATTRIBUTES_TABLE

    client = warehouse.client()
    if not client.table_exists(RAW_SCHEMA, ATTRIBUTES_TABLE):
        return {}
    labels = {}
    for sid in series:
        rows = client.read_where(RAW_SCHEMA, ATTRIBUTES_TABLE, {"series_id": sid}).to_pylist()
        row = rows[0] if rows else {}
        values = [str(v) for k, v in row.items() if k.lower() != "series_id" and v]
        if values:
            label = f"{sid}: {', '.join(values)}"
            labels[sid] = label if len(label) <= LABEL_WIDTH else label[: LABEL_WIDTH - 3] + "..."
    return labels


def units() -> str | None:
    """What the pipeline's values measure (pipelines.yaml `units`), for the charts' axis."""
    return load_pipeline().units


def _safely(render, what: str) -> dict:
    try:
        return render()
    except Exception as error:  # a plot must never lose a written result
        dg.get_dagster_logger().warning("%s not rendered: %s", what, error)
        return {f"{what} (not rendered)": dg.MetadataValue.text(f"{type(error).__name__}: {error}")}


def newest_leaderboard(warehouse) -> pd.DataFrame:
    """The ranked models of the pipeline's newest backtest (the one that chose the champion)."""
    from orchestration.selection import SUMMARY_TABLE
    from orchestration.settings import load_pipeline

    pipeline = load_pipeline()
    summary = warehouse.client().read_table(pipeline.forecast_schema, SUMMARY_TABLE).to_pandas()
    runs = summary[summary["pipeline"] == pipeline.name]
    newest = runs.loc[runs["created_at"].idxmax(), "backtest_run_id"]
    return runs[runs["backtest_run_id"] == newest].sort_values("rank", ignore_index=True)


def forecast_plot_metadata(
    warehouse, forecasts: pd.DataFrame, tracking: MlflowTracking, run_id: str
) -> dict:
    """For ml/forecasts: the fan chart of a few series' forecasts, also an artefact of `run_id`
    (the champion's training run), and the leaderboard of the backtest that chose the champion."""

    def board() -> dict:
        return {"leaderboard_table": leaderboard_table(newest_leaderboard(warehouse))}

    def render() -> dict:
        from ml.plots import fan_chart, first_series, png_bytes

        series = first_series(forecasts, FAN_SERIES)
        history = read_history(warehouse, series)
        title = "Forecast: history, p50 and the p10-p90 band"
        labels = series_labels(warehouse, series)
        chart = fan_chart(history, forecasts, FAN_SERIES, title=title, labels=labels, units=units())
        png = png_bytes(chart)
        log_png(tracking, run_id, png, FORECAST_CHART)
        return chart_metadata("fan_chart", png, "Forecast fan chart", run_id, FORECAST_CHART)

    return _safely(render, "fan_chart") | _safely(board, "leaderboard_table")


def backtest_plot_metadata(
    warehouse, points: pd.DataFrame | pa.Table, selection, tracking: MlflowTracking, run_id: str
) -> dict:
    """For ml/backtests: the leaderboard as a table and the champion's fan chart at the newest
    cutoff (actuals drawn); the chart is also an artefact of the backtest's MLflow run."""
    metadata = {"leaderboard_table": leaderboard_table(selection.leaderboard)}

    def render() -> dict:
        from ml.plots import fan_chart, first_series, png_bytes

        if isinstance(points, pa.Table):  # the champion's rows only, before pandas
            champion = points.filter(pc.equal(points["model"], selection.champion)).to_pandas()
        else:
            champion = points[points["model"] == selection.champion]
        newest = champion[champion["cutoff"] == champion["cutoff"].max()]
        series = first_series(newest, FAN_SERIES)
        history = read_history(warehouse, series)
        cutoff = pd.Timestamp(newest["cutoff"].max()).date()
        title = f"Backtest of {selection.champion} from cutoff {cutoff}: actuals, p50, p10-p90"
        labels = series_labels(warehouse, series)
        chart = fan_chart(history, newest, FAN_SERIES, title=title, labels=labels, units=units())
        png = png_bytes(chart)
        log_png(tracking, run_id, png, BACKTEST_CHART)
        caption = "Backtest fan chart (champion)"
        return chart_metadata("fan_chart", png, caption, run_id, BACKTEST_CHART)

    return _safely(render, "fan_chart") | metadata  # the chart first, as the UI lists them


def explanation_plot_metadata(
    explanations: pd.DataFrame, tracking: MlflowTracking, run_id: str
) -> dict:
    """Bar chart of what drove the forecast; also an artefact of `run_id`."""

    def render() -> dict:
        from ml.plots import explanation_chart, png_bytes

        png = png_bytes(explanation_chart(explanations))
        log_png(tracking, run_id, png, EXPLANATION_CHART)
        caption = "What drove the forecast"
        return chart_metadata("explanation_chart", png, caption, run_id, EXPLANATION_CHART)

    return _safely(render, "explanation_chart")
