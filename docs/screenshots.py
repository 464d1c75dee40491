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
import subprocess
import sys
import tempfile
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from orchestration.settings import (  # noqa: E402
    DBT_PROJECT_DIR,
    PROFILES_DIR,
    mlflow_tracking_uri,
    warecast_home,
)
from tests.ui.browser import Browser, Server, missing_browser  # noqa: E402

IMAGES = REPO / "docs" / "img"
DAGSTER, MLFLOW = "http://127.0.0.1:3000", "http://127.0.0.1:5000"
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


def port_taken(url: str) -> bool:
    host, port = url.rsplit("//", 1)[1].split(":")
    with socket.socket() as s:
        return s.connect_ex((host, int(port))) == 0


def servers(logs: Path) -> tuple[Server, Server]:
    bin_dir = Path(sys.executable).parent
    env = {**os.environ, "MLFLOW_SERVER_ENABLE_JOB_EXECUTION": "false"}
    on = ["--host", "127.0.0.1", "--port"]
    dagster = Server(
        [str(bin_dir / "dagster"), "dev", "-m", "orchestration.definitions", *on, "3000"],
        env,
        REPO,
        f"{DAGSTER}/server_info",
        logs / "dagster_dev.log",
    )
    store = mlflow_tracking_uri()
    mlflow = Server(
        [
            str(bin_dir / "mlflow"),
            "ui",
            *on,
            "5000",
            "--workers",
            "1",
            "--backend-store-uri",
            store,
        ],
        env,
        REPO,
        f"{MLFLOW}/health",
        logs / "mlflow_ui.log",
    )
    return dagster, mlflow


def dbt_docs(folder: Path) -> Path:
    dbt = Path(sys.executable).with_name("dbt")
    args = ["docs", "generate", "--static", "--target-path", str(folder)]
    args += ["--profiles-dir", str(PROFILES_DIR), "--project-dir", str(DBT_PROJECT_DIR)]
    subprocess.run([str(dbt), *args], check=True, capture_output=True, cwd=DBT_PROJECT_DIR)
    return folder / "static_index.html"


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
    for expander in expanders[:1]:  # MLflow 3.17's expander; the picture is fine without it
        expander.click()
        browser.wait_for_text([":small"], timeout=10)


def main() -> None:
    if not (warecast_home() / "warecast.duckdb").exists():
        stop(f"No demo run in {warecast_home()}: run `make demo` first.")
    problem = missing_browser()
    if problem:
        stop(problem)
    for url in (DAGSTER, MLFLOW):
        if port_taken(url):
            stop(f"{url} is taken: stop `make ui` / `make mlflow-ui` first.")
    IMAGES.mkdir(exist_ok=True)
    with tempfile.TemporaryDirectory() as tmp:
        docs = dbt_docs(Path(tmp) / "dbt_docs")
        dagster, mlflow = servers(Path(tmp))
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
