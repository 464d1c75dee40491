"""The README's screenshots (docs/img/), from a real run: `make screenshots` after `make demo`.

Serves this home's Dagster instance (`dagster dev`, port 3000) and MLflow store (`mlflow ui`,
port 5000: the charts in Dagster's metadata are served from there) as `make ui` and
`make mlflow-ui` do, writes dbt docs as one static page, and has headless Chromium
(tests/ui/browser.py) save the pages the README links to. Exit 2 with a line saying what to do
when the demo has not run or a port is taken.
"""

from __future__ import annotations

import os
import socket
import sys
import tempfile
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from orchestration.settings import mlflow_tracking_uri, warecast_home  # noqa: E402
from tests.ui.browser import (  # noqa: E402
    Browser,
    dagster_dev,
    local_url,
    missing_browser,
    mlflow_ui,
    static_dbt_docs,
)

IMAGES = REPO / "docs" / "img"
DAGSTER_PORT, MLFLOW_PORT = 3000, 5000  # make ui, make mlflow-ui
DAGSTER, MLFLOW = local_url(DAGSTER_PORT), local_url(MLFLOW_PORT)
PAGES = [  # (file, Dagster path, words the page shows once loaded)
    ("dagster_overview.png", "/overview/activity/timeline", ["forecast_pipeline"]),
    ("dagster_global_lineage.png", "/asset-groups", ["staging_ml", "marts_forecasts"]),
    ("dagster_forecasts.png", "/assets/ml/forecasts?view=events", ["fan_chart"]),
    (
        "dagster_forecasts_lineage.png",
        "/assets/ml/forecasts?view=lineage&lineageScope=neighbors&lineageDepth=6",
        ["fct_forecasts_latest"],
    ),
]


def stop(message: str) -> None:
    print(message, file=sys.stderr)
    raise SystemExit(2)


def port_taken(port: int) -> bool:
    with socket.socket() as s:
        return s.connect_ex(("127.0.0.1", port)) == 0


def mlflow_runs_page() -> str:
    from mlflow import MlflowClient

    from orchestration.tracking import MlflowTracking, runs_page

    name = MlflowTracking.model_fields["experiment_name"].default
    experiment = MlflowClient(mlflow_tracking_uri()).get_experiment_by_name(name)
    if experiment is None:
        stop(f"No MLflow experiment {name!r} in this home: run `make demo` first.")
    return runs_page(MLFLOW, experiment.experiment_id)


def expand_backtest_run(browser: Browser) -> None:
    """Open the backtest run's child runs (a run per model) in MLflow's runs table."""
    from selenium.webdriver.common.by import By

    expanders = browser.driver.find_elements(
        By.CSS_SELECTOR, "button[data-component-id*='runnamecellrenderer']"
    )
    if expanders:  # MLflow 3.17's expander; the picture is fine without it
        expanders[0].click()
        browser.wait_for_text([":small"], timeout=10)


def main() -> None:
    if not (warecast_home() / "warecast.duckdb").exists():
        stop(f"No demo run in {warecast_home()}: run `make demo` first.")
    problem = missing_browser()
    if problem:
        stop(problem)
    for port in (DAGSTER_PORT, MLFLOW_PORT):
        if port_taken(port):
            stop(f"{local_url(port)} is taken: stop `make ui` / `make mlflow-ui` first.")
    IMAGES.mkdir(exist_ok=True)
    with tempfile.TemporaryDirectory() as tmp:
        docs = static_dbt_docs(Path(tmp) / "dbt_docs")
        dagster = dagster_dev(DAGSTER_PORT, dict(os.environ), Path(tmp) / "dagster_dev.log")
        store = mlflow_tracking_uri()
        mlflow = mlflow_ui(MLFLOW_PORT, dict(os.environ), store, Path(tmp) / "mlflow_ui.log")
        with dagster, mlflow, Browser(IMAGES, size=(1920, 1080)) as browser:
            dagster.wait(timeout=150)
            mlflow.wait(timeout=60)
            for name, path, words in PAGES:
                browser.open(f"{DAGSTER}{path}")
                browser.wait_for_text(words, timeout=60)
                browser.wait_for_image("fan chart", timeout=5)  # where there is one
                print(f"docs/img/{name}")
                browser.screenshot(name)
            browser.open(mlflow_runs_page())
            browser.wait_for_text(["backtest ", "train "], timeout=60)
            browser.close_panel("MLflow Assistant")
            expand_backtest_run(browser)
            browser.screenshot("mlflow_runs.png")
            print("docs/img/mlflow_runs.png")
            browser.open(docs.as_uri())
            browser.wait_for_text(["fct_forecasts_published"], timeout=60)
            browser.screenshot("dbt_docs_overview.png")
            print("docs/img/dbt_docs_overview.png")


if __name__ == "__main__":
    main()
