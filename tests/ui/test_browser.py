"""What a person sees: `dagster dev`, the MLflow UI and dbt docs in headless Chromium, after a
real run.

A tiny pipeline (4 series, seasonal naive vs a tiny LightGBM, one cutoff) runs on DuckDB, up to
ml/forecasts, as the CLI runs it (a run of the code location's forecast_pipeline job, in a
persistent Dagster instance); `dagster dev` and `mlflow ui` serve the same folders on 127.0.0.1,
and Debian's Chromium (its chromedriver, through selenium) checks:
- Dagster: Overview and the job's page list the run; the global lineage draws the groups in
  layer order, left to right; the lineage runs raw -> features -> forecasts -> marts; the fan
  chart is on ml/forecasts' events without a click (and its embedded copy behind one);
- MLflow: the link the CLI prints lands on the runs table, a child run per model; the training
  run holds the same plot;
- dbt docs (the static page `dbt docs generate --static` writes) open on the project overview.
Screenshots: tests/ui/output/ (git-ignored; the README's are copies in docs/img/). Without
Chromium the test fails and says how to install it.
"""

from __future__ import annotations

import os
import shutil
import time
from pathlib import Path

import dagster as dg
import pytest

from ml.datasets import load_aus_retail
from orchestration.code_location import DEFINITIONS_MODULE
from orchestration.tracking import runs_page
from tests.run_configs import TINY_TRAINING
from tests.ui.browser import (
    Browser,
    Server,
    dagster_dev,
    free_port,
    greenish,
    local_url,
    missing_browser,
    mlflow_ui,
    shows,
    static_dbt_docs,
)

REPO = Path(__file__).resolve().parents[2]
OUTPUT = Path(__file__).with_name("output")
N_SERIES = 4
BACKTEST = {"config": {"models": ["seasonal_naive:tiny", "lightgbm:tiny"], "cutoffs": 1}}
# Left to right in the lineage graph: raw -> features -> forecasts -> marts.
LINEAGE = ["observations", "fct_training_features", "forecasts", "fct_forecasts_latest"]
GROUPS = ["raw", "marts_features", "ml", "marts_forecasts"]
# The global lineage's groups, left to right (orchestration/assets/dbt.py's rule).
GROUP_ORDER = ["raw", "staging_raw", "intermediate", "marts_features", "ml", "staging_ml"]
MATERIALIZED = LINEAGE[:3]  # this run stops at ml/forecasts; the marts are views built later

pytestmark = [pytest.mark.ui, pytest.mark.timeout(420)]


@pytest.fixture
def ui_env(tmp_path, monkeypatch) -> dict:
    """Fresh warecast home, a Dagster home with the repository's dagster.yaml, MLflow store."""
    home, dagster_home = tmp_path / "home", tmp_path / "dagster_home"
    dagster_home.mkdir()
    shutil.copy(REPO / "dagster.yaml", dagster_home / "dagster.yaml")
    env = {
        "WARECAST_HOME": str(home),
        "DAGSTER_HOME": str(dagster_home),
        "WARECAST_DAGSTER_DIR": str(home / "dagster"),
        "WARECAST_DAGSTER_LOGS": str(home / "dagster" / "logs"),
        "MLFLOW_TRACKING_URI": f"sqlite:///{home / 'mlflow.db'}",
        "WARECAST_TARGET": "duckdb",
    }
    for key, value in env.items():
        monkeypatch.setenv(key, value)
    monkeypatch.delenv("WARECAST_PIPELINE", raising=False)
    return env


def _materialize(tmp_path: Path) -> dg.ExecuteInProcessResult:
    """raw -> dbt features -> backtests -> trained model -> forecasts, in DAGSTER_HOME, as a run
    of the code location's forecast_pipeline job (as `warecast run` runs it).

    Without the dbt tests (asset checks): the data tests run elsewhere; this test is about the
    UIs, and they take a minute here."""
    from orchestration.assets.ml import FORECASTS_KEY, forecasts
    from orchestration.code_location import execute_in_code_location
    from orchestration.definitions import build_definitions

    frame = load_aus_retail()
    keep = sorted(frame["series_id"].unique())[:N_SERIES]
    frame = frame[frame["series_id"].isin(keep)].groupby("series_id").tail(120)
    path = tmp_path / "history.parquet"
    frame.to_parquet(path, index=False)
    defs = build_definitions("duckdb")
    run_config = {
        "ops": {
            "raw__observations": {"config": {"dataset": "file", "path": str(path)}},
            "ml__backtests": BACKTEST,
            "ml__trained_model": TINY_TRAINING,
        }
    }
    graph = defs.resolve_asset_graph()
    job = defs.resolve_job_def("forecast_pipeline").get_subset(
        asset_selection=dg.AssetSelection.keys(FORECASTS_KEY).upstream().resolve(graph),
        asset_check_selection=set(forecasts.check_keys),  # checked inside the asset
    )
    with dg.DagsterInstance.get() as instance:
        return execute_in_code_location(job, instance, run_config=run_config)


def _servers(env: dict, logs: Path) -> tuple[Server, Server, str, str]:
    dagster_port, mlflow_port = free_port(), free_port()
    dagster = dagster_dev(dagster_port, env, logs / "dagster_dev.log")
    mlflow = mlflow_ui(mlflow_port, env, env["MLFLOW_TRACKING_URI"], logs / "mlflow_ui.log")
    return dagster, mlflow, local_url(dagster_port), local_url(mlflow_port)


def test_dagster_mlflow_and_dbt_docs_answer_at_first_glance(ui_env, tmp_path, monkeypatch):
    problem = missing_browser()
    if problem:
        pytest.fail(problem)
    OUTPUT.mkdir(exist_ok=True)
    # Create the instance's SQLite storage before anything else opens it. `dagster dev` and this
    # process creating it at the same moment both stamp the schema version, and every later
    # open then fails with "alembic_version has more than one head" (seen once in CI).
    dg.DagsterInstance.get().dispose()
    dagster, mlflow, dagster_url, mlflow_url = _servers({**os.environ, **ui_env}, tmp_path)
    monkeypatch.setenv("WARECAST_MLFLOW_UI", mlflow_url)  # the charts Dagster shows inline
    # The servers start while the pipeline runs; dagster dev shows runs as they land.
    with dagster, mlflow:
        result = _materialize(tmp_path)
        assert result.success
        run_id = _check_metadata(result)
        docs = static_dbt_docs(tmp_path / "dbt_docs")  # over the test's warehouse
        dagster.wait(timeout=150)
        mlflow.wait(timeout=60)
        with Browser(OUTPUT) as browser:
            _check_dagster(browser, dagster_url, result.run_id)
            _check_mlflow(browser, mlflow_url, run_id)
            _check_dbt_docs(browser, docs)


def _check_metadata(result: dg.ExecuteInProcessResult) -> str:
    """The plots and the leaderboard table in the metadata and in MLflow; the forecasts' run."""
    from mlflow import MlflowClient

    backtest = result.asset_materializations_for_node("ml__backtests")[0].metadata
    forecast = result.asset_materializations_for_node("ml__forecasts")[0].metadata
    for metadata in (backtest, forecast):
        assert next(iter(metadata)) == "fan_chart"  # the first entry the UI lists
        assert "](data:image/png;base64,iVBOR" in metadata["fan_chart_embedded"].value
    for metadata in (backtest, forecast):  # the forecasts show the board that chose them
        board = [r.data for r in metadata["leaderboard_table"].records]
        assert sorted(row["model"] for row in board) == ["lightgbm", "seasonal_naive"]
        assert [row["rank"] for row in board] == [1, 2]
    runs = {"backtest": backtest, "forecast": forecast}
    for kind, metadata in runs.items():
        stored = MlflowClient().list_artifacts(str(metadata["mlflow_run_id"].value), "plots")
        assert f"plots/{kind}_fan_chart.png" in [a.path for a in stored]
    return str(forecast["mlflow_run_id"].value)


def _check_dagster(browser: Browser, base: str, run_id: str) -> None:
    _check_runs_listed(browser, base, run_id)
    _check_group_order(browser, base)
    browser.open(f"{base}/assets/ml/forecasts?view=lineage&lineageScope=neighbors&lineageDepth=6")
    browser.wait_for_text(["observations", "marts_forecasts"], timeout=60)
    labels = _once_materialized_shown(browser, MATERIALIZED, timeout=30)
    browser.screenshot("dagster_lineage.png")
    shown = {name: [lb["x"] for lb in labels if shows(lb["text"], name)] for name in LINEAGE}
    missing = [name for name, xs in shown.items() if not xs]
    assert not missing, (
        f"The lineage graph does not show {missing}: {[lb['text'] for lb in labels]}"
    )
    groups = {lb["text"] for lb in labels}
    assert set(GROUPS) <= groups, f"Groups shown: {sorted(groups)}"
    lefts = [max(shown[name]) for name in LINEAGE]
    assert lefts == sorted(lefts), f"Not drawn left to right as {LINEAGE}: {lefts}"
    grey = [n for n in MATERIALIZED if not any(_green(lb, n) for lb in labels)]
    assert not grey, f"Materialized here, but not drawn so (green): {grey}"

    # The fan chart is the first thing on the materialization, shown without a click.
    browser.open(f"{base}/assets/ml/forecasts?view=events")
    image = browser.wait_for_image("Forecast fan chart", timeout=60)
    browser.screenshot("dagster_forecasts_fan_chart.png")
    assert image["naturalWidth"] > 200, f"The fan chart is not shown in Dagster: {image}"
    browser.click_text("[Show Markdown]")  # the embedded copy, for when MLflow's UI is down
    image = browser.wait_for_image("data:image/png", timeout=30)
    assert image["naturalWidth"] > 200, f"The embedded fan chart did not render: {image}"


def _check_runs_listed(browser: Browser, base: str, run_id: str) -> None:
    """Overview's timeline and the job's page list the run (not only the Runs page)."""
    browser.open(f"{base}/overview/activity/timeline")
    text = browser.wait_for_text(["forecast_pipeline"], timeout=60)
    browser.screenshot("dagster_overview.png")
    assert "forecast_pipeline" in text and "No runs" not in text, text[:1500]
    browser.open(f"{base}/locations/{DEFINITIONS_MODULE}/jobs/forecast_pipeline/runs")
    text = browser.wait_for_text([run_id[:8]], timeout=60)
    assert run_id[:8] in text and "No runs found" not in text, text[:1500]


def _check_group_order(browser: Browser, base: str) -> None:
    """The global lineage: every group drawn, in layer order from left to right."""
    browser.open(f"{base}/asset-groups")
    browser.wait_for_text(GROUP_ORDER, timeout=60)
    labels = browser.labels()
    browser.screenshot("dagster_global_lineage.png")
    lefts = {
        name: min((lb["x"] for lb in labels if lb["text"] == name), default=None)
        for name in GROUP_ORDER
    }
    assert None not in lefts.values(), f"Groups not shown: {lefts}"
    order = sorted(GROUP_ORDER, key=lefts.get)
    assert order == GROUP_ORDER, f"Drawn left to right as {order}: {lefts}"


def _green(label: dict, name: str) -> bool:
    return shows(label["text"], name) and greenish(label["fill"])


def _once_materialized_shown(browser: Browser, names: list[str], timeout: float) -> list[dict]:
    """The graph's labels once the nodes of `names` are drawn as materialized (status loads
    after the graph), or as they are when time is up."""
    deadline = time.monotonic() + timeout
    while True:
        labels = browser.labels()
        done = all(any(_green(lb, n) for lb in labels) for n in names)
        if done or time.monotonic() > deadline:
            return labels
        time.sleep(0.5)


def _check_mlflow(browser: Browser, base: str, run_id: str) -> None:
    from mlflow import MlflowClient

    experiment = MlflowClient().get_run(run_id).info.experiment_id
    # The summary's link lands on the runs table: a run per backtest (its models as child runs,
    # counted among the matching runs) and a run per training, by readable names.
    runs = MlflowClient().search_runs([experiment])
    browser.open(runs_page(base, experiment))
    text = browser.wait_for_text(["Training runs", "backtest ", "train "], timeout=60)
    browser.close_panel("MLflow Assistant")
    browser.screenshot("mlflow_runs.png")
    assert f"{len(runs)} matching runs" in text, text[:2000]
    children = [r for r in runs if "mlflow.parentRunId" in r.data.tags]
    assert sorted(r.data.params["family"] for r in children) == ["lightgbm", "seasonal_naive"]
    browser.open(f"{base}/#/experiments/{experiment}/runs/{run_id}/artifacts")
    browser.wait_for_text(["plots"], timeout=60)
    browser.click_text("plots")
    browser.click_text("forecast_fan_chart.png")
    image = browser.wait_for_image("plots/forecast_fan_chart.png", timeout=30)
    browser.screenshot("mlflow_run_fan_chart.png")
    assert image["naturalWidth"] > 200, f"MLflow did not show the plot: {image}"


def _check_dbt_docs(browser: Browser, page: Path) -> None:
    """dbt docs land on the project's overview (models/overview.md), not dbt's welcome page."""
    browser.open(page.as_uri())
    text = browser.wait_for_text(["fct_forecasts_published"], timeout=60)
    browser.screenshot("dbt_docs_overview.png")
    assert "Welcome!" not in text, text[:800]
    assert "fct_forecasts_published" in text and "warecast" in text, text[:800]


def test_the_screenshot_folder_is_ignored_by_git():
    assert "tests/ui/output/" in (REPO / ".gitignore").read_text().splitlines()


def test_without_chromium_the_test_says_how_to_install_it(tmp_path, monkeypatch):
    monkeypatch.setenv("PATH", str(tmp_path))  # an empty folder: no chromium, no driver
    problem = missing_browser()
    assert problem and "apt-get install -y chromium chromium-driver" in problem
