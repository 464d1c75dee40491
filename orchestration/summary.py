"""What a person sees at the end of `warecast run` / `make demo`."""

from __future__ import annotations

from orchestration.settings import current_target, load_pipeline, mlflow_ui_url, warecast_home
from orchestration.tracking import runs_page


def _materialized(result) -> dict[str, dict]:
    out = {}
    for event in result.get_asset_materialization_events():
        materialization = event.step_materialization_data.materialization
        out["/".join(materialization.asset_key.path)] = {
            key: getattr(value, "value", value) for key, value in materialization.metadata.items()
        }
    return out


def print_summary(command: str, result, seconds: float) -> None:
    assets = _materialized(result)
    raw = assets.get("raw/observations", {})
    print(f"\nwarecast {command}: done in {seconds:.0f} s on target {current_target()!r}.")
    print(f"  raw.observations: {raw.get('dagster/row_count')} rows, {raw.get('series')} series")
    if command == "load":
        if raw.get("timestamps"):  # what the load did with the timestamps (offsets dropped)
            print(f"  {raw['timestamps']}")
        print("  Next: warecast run --dataset current")
        return
    backtest = assets.get("ml/backtests", {})
    if backtest.get("leaderboard_table"):
        cutoffs = ", ".join(backtest.get("cutoffs") or [])
        print(f"\nLeaderboard (backtest at cutoffs {cutoffs}):\n")
        print(board_markdown(backtest["leaderboard_table"], backtest.get("metric", "mase")))
        print(f"\n{backtest.get('reason', '')}")
    model = assets.get("ml/trained_model", {})
    written = assets.get("ml/forecasts", {})
    pipeline = load_pipeline()
    print(
        f"  model: {model.get('model_name')} version {model.get('model_version')} "
        f"{'(reused: same data and config) ' if model.get('reused_champion') else ''}"
        f"(MLflow run {model.get('mlflow_run_id')}), "
        f"val MASE {model.get('val_mase', float('nan')):.3f}"
    )
    if model.get("model_detail") and model.get("model_detail") != model.get("model_family"):
        print(f"  {model.get('model_family')}: {model.get('model_detail')}")
    print(f"  {forecasts_line(written)}")
    print("\nTables to query:")
    print(f"  {pipeline.forecast_schema}.forecasts        every forecast, with lineage columns")
    print("  marts.fct_forecasts_latest   the latest forecast per series (BI)")
    print("  marts.fct_forecast_vs_actual forecasts beside actuals, once actuals arrive (BI)")
    print("  marts.fct_training_features  the training table; marts.dim_series per series")
    if current_target() == "duckdb":
        print(f"\n  DuckDB file: {warecast_home() / 'warecast.duckdb'}")
    print("\nDagster UI: make ui         -> http://127.0.0.1:3000")
    experiment = backtest.get("mlflow_experiment_id")
    page = runs_page(mlflow_ui_url(), experiment) if experiment else mlflow_ui_url()
    print(f"MLflow UI:  make mlflow-ui  -> {page}")
    print("            (one run per backtest, a child run per model: the models side by side)")


def board_markdown(table, metric: str) -> str:
    """The backtest's leaderboard (its Dagster table) as the run's last lines show it."""
    wanted = ["rank", "model", "preset", metric, "mase", "mase_vs_seasonal_naive"]
    wanted += ["coverage_80", "pinball_mean", "fit_seconds"]
    names = {column.name for column in table.schema.columns}
    columns = [c for c in dict.fromkeys(wanted) if c in names]
    lines = ["| " + " | ".join(columns) + " |", "|" + "---|" * len(columns)]
    for record in table.records:
        cells = [_cell(record.data.get(c)) for c in columns]
        lines.append("| " + " | ".join(cells) + " |")
    return "\n".join(lines)


def _cell(value) -> str:
    if value is None:
        return ""
    return f"{value:.3f}" if isinstance(value, float) else str(value)


def forecasts_line(written: dict) -> str:
    """What the forecasts step did. Series whose features and champion are unchanged keep their
    rows (a re-run writes none), which "0 rows" alone would make look like a failure."""
    rows, table = written.get("dagster/row_count"), written.get("table")
    refreshed = written.get("series_refreshed")
    line = f"forecasts written: {rows} rows for {refreshed} series into {table}"
    kept = written.get("series_kept") or 0
    if kept:
        line += f"; {kept} series kept their forecasts (features and champion unchanged)"
    return line
