"""The browser test's tools (also docs/screenshots.py's): the UIs' servers in their own process
groups, dbt docs as one static page, and headless Chromium.

Chromium and its driver are Debian's (`apt-get install chromium chromium-driver`); nothing is
downloaded at run time (selenium is given the driver's path, so Selenium Manager stays idle).
"""

from __future__ import annotations

import contextlib
import os
import shutil
import signal
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from pathlib import Path

CHROMIUM = ("chromium", "chromium-browser")
DRIVER = "chromedriver"
INSTALL = (
    "Install Debian's Chromium and its driver first: "
    "`apt-get update && apt-get install -y chromium chromium-driver` (.ci/run does)."
)


def missing_browser() -> str | None:
    """Why the browser test cannot run here, or None."""
    if not any(shutil.which(name) for name in CHROMIUM):
        return f"No Chromium on PATH (looked for {list(CHROMIUM)}). {INSTALL}"
    if not shutil.which(DRIVER):
        return f"No chromedriver on PATH. {INSTALL}"
    try:
        import selenium  # noqa: F401
    except ImportError:
        return "selenium is not installed: `pip install -c constraints.txt -e '.[dev]'`."
    return None


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def local_url(port: int) -> str:
    return f"http://127.0.0.1:{port}"


def _on(port: int) -> list[str]:
    return ["--host", "127.0.0.1", "--port", str(port)]  # never beyond this machine


def dagster_dev(port: int, env: dict, log: Path) -> Server:
    """`dagster dev` serving the code location `make ui` serves."""
    from orchestration.code_location import DEFINITIONS_MODULE
    from orchestration.settings import REPO_ROOT

    dagster = str(Path(sys.executable).with_name("dagster"))
    command = [dagster, "dev", "-m", DEFINITIONS_MODULE, *_on(port)]
    return Server(command, env, REPO_ROOT, f"{local_url(port)}/server_info", log)


def mlflow_ui(port: int, env: dict, store: str, log: Path) -> Server:
    """`mlflow ui` on the tracking store `store`, one worker, no job execution."""
    from orchestration.settings import REPO_ROOT

    mlflow = str(Path(sys.executable).with_name("mlflow"))
    command = [mlflow, "ui", *_on(port), "--workers", "1", "--backend-store-uri", store]
    env = {**env, "MLFLOW_SERVER_ENABLE_JOB_EXECUTION": "false"}
    return Server(command, env, REPO_ROOT, f"{local_url(port)}/health", log)


def static_dbt_docs(folder: Path) -> Path:
    """dbt docs as one page (`dbt docs generate --static`) over the current target's warehouse."""
    from orchestration.dbt_models import dbt_executable
    from orchestration.settings import DBT_PROJECT_DIR, PROFILES_DIR

    args = ["docs", "generate", "--static", "--target-path", str(folder)]
    args += ["--profiles-dir", str(PROFILES_DIR), "--project-dir", str(DBT_PROJECT_DIR)]
    subprocess.run(
        [dbt_executable(), *args], check=True, capture_output=True, cwd=DBT_PROJECT_DIR, timeout=300
    )
    return folder / "static_index.html"


class Server:
    """A command in its own process group, up once `url` answers; stopped with its group."""

    def __init__(self, command: list[str], env: dict, cwd: Path, url: str, log: Path):
        self.command, self.env, self.cwd, self.url, self.log = command, env, cwd, url, log
        self.process: subprocess.Popen | None = None

    def __enter__(self) -> Server:
        with open(self.log, "wb") as out:
            self.process = subprocess.Popen(
                self.command,
                env=self.env,
                cwd=self.cwd,
                stdout=out,
                stderr=subprocess.STDOUT,
                start_new_session=True,  # its own process group: stop kills its children too
            )
        return self

    def wait(self, timeout: float) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise AssertionError(f"{self.command[:2]} exited: {self._tail()}")
            with (
                contextlib.suppress(urllib.error.URLError, ConnectionError, TimeoutError),
                urllib.request.urlopen(self.url, timeout=2) as response,
            ):
                if response.status == 200:
                    return
            time.sleep(0.5)
        raise AssertionError(f"{self.url} did not answer in {timeout:.0f} s: {self._tail()}")

    def _tail(self) -> str:
        return self.log.read_text(errors="replace")[-3000:]

    def __exit__(self, *exc) -> None:
        if self.process is None or self.process.poll() is not None:
            return
        group, started = os.getpgid(self.process.pid), time.monotonic()
        os.killpg(group, signal.SIGINT)  # dagster dev shuts down on Ctrl-C, not on SIGTERM
        how = "SIGINT"
        try:
            self.process.wait(timeout=20)
        except subprocess.TimeoutExpired:
            os.killpg(group, signal.SIGKILL)
            self.process.wait(timeout=10)
            how = "SIGKILL after 20 s"
        with open(self.log, "a") as out:
            out.write(f"\n[test] stopped by {how} in {time.monotonic() - started:.1f} s\n")
        with contextlib.suppress(ProcessLookupError):  # children that outlived the leader
            os.killpg(group, signal.SIGKILL)


IMAGE_STATE = """
const img = arguments[0];
return {naturalWidth: img.naturalWidth, naturalHeight: img.naturalHeight,
        complete: img.complete, src: (img.getAttribute('src') || '').slice(0, 60)};
"""


class Browser:
    """Headless Chromium through selenium; screenshots go to `output`."""

    def __init__(self, output: Path, size: tuple[int, int] = (1600, 1100)):
        self.output, self.size = output, size
        self.driver = None

    def __enter__(self) -> Browser:
        from selenium import webdriver
        from selenium.webdriver.chrome.service import Service

        options = webdriver.ChromeOptions()
        options.binary_location = next(shutil.which(n) for n in CHROMIUM if shutil.which(n))
        for flag in ("--headless=new", "--no-sandbox", "--disable-dev-shm-usage", "--disable-gpu"):
            options.add_argument(flag)
        options.add_argument(f"--window-size={self.size[0]},{self.size[1]}")
        service = Service(executable_path=shutil.which(DRIVER))
        self.driver = webdriver.Chrome(service=service, options=options)
        return self

    def __exit__(self, *exc) -> None:
        if exc[0] is not None:
            with contextlib.suppress(Exception):
                self.screenshot("failure.png")
        self.driver.quit()

    def open(self, url: str) -> None:
        self.driver.get(url)

    def screenshot(self, name: str) -> Path:
        path = self.output / name
        self.driver.save_screenshot(str(path))
        return path

    def text(self) -> str:
        from selenium.webdriver.common.by import By

        return self.driver.find_element(By.TAG_NAME, "body").text

    def wait_for_text(self, words: list[str], timeout: float) -> str:
        """The page's visible text once it holds every word (or when time is up)."""
        deadline = time.monotonic() + timeout
        text = ""
        while time.monotonic() < deadline:
            text = self.text()
            if all(word in text for word in words):
                return text
            time.sleep(0.5)
        return text

    def click_text(self, text: str, timeout: float = 30) -> None:
        """Click the innermost visible element whose own text is `text`."""
        from selenium.webdriver.common.by import By

        xpath = f"//*[normalize-space(text())='{text}']"
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            found = [e for e in self.driver.find_elements(By.XPATH, xpath) if e.is_displayed()]
            if found:
                self.driver.execute_script(
                    "arguments[0].scrollIntoView({block: 'center'})", found[0]
                )
                found[0].click()
                return
            time.sleep(0.5)
        raise AssertionError(f"Nothing shows the text {text!r}; the page says: {self.text()[:800]}")

    def close_panel(self, title: str) -> bool:
        """Click the close button of the side panel headed `title` (MLflow's assistant opens
        beside the runs table); False when there is no such panel."""
        found = self.driver.execute_script(CLOSE_PANEL, title)
        time.sleep(0.5)  # the panel slides out
        return bool(found)

    def wait_for_image(self, name: str, timeout: float) -> dict:
        """naturalWidth/Height of the first decoded <img> whose alt or src holds `name`."""
        from selenium.webdriver.common.by import By

        deadline = time.monotonic() + timeout
        state = {"naturalWidth": 0, "src": None}
        while time.monotonic() < deadline:
            for img in self.driver.find_elements(By.TAG_NAME, "img"):
                label = (img.get_attribute("alt") or "") + (img.get_attribute("src") or "")[:200]
                if name in label and img.is_displayed():
                    state = self.driver.execute_script(IMAGE_STATE, img)
                    if state["naturalWidth"]:
                        return state
            time.sleep(0.5)
        return state

    def labels(self) -> list[dict]:
        """Every visible element's own text with its left edge: what the page shows, where."""
        return self.driver.execute_script(LABELS)


CLOSE_PANEL = """
const title = arguments[0];
const own = el => [...el.childNodes].filter(n => n.nodeType === 3)
  .map(n => n.textContent).join('').trim();  // its own text, not its children's ("Beta")
const heads = [...document.querySelectorAll('body *')].filter(el => own(el) === title);
for (const head of heads) {
  for (let node = head.parentElement; node; node = node.parentElement) {
    const close = [...node.querySelectorAll('button')].find(
      b => /close/i.test(b.getAttribute('aria-label') || ''));
    if (close) { close.click(); return true; }
  }
}
return false;
"""

LABELS = """
function fill(el) {  // background colours of the element and its two parents (a node's box)
  const out = [];
  for (let node = el; node && out.length < 3; node = node.parentElement) {
    out.push(getComputedStyle(node).backgroundColor);
  }
  return out;
}
const out = [];
for (const el of document.querySelectorAll('body *')) {
  if (el.children.length) continue;
  const text = (el.textContent || '').trim();
  const box = el.getBoundingClientRect();
  if (text && box.width > 0 && box.height > 0) {
    out.push({text: text, x: box.left, y: box.top, fill: fill(el)});
  }
}
return out;
"""


def greenish(colours: list[str]) -> bool:
    """Any rgb()/rgba() colour whose green channel clearly leads: Dagster fills a materialized
    node's box with rgba(46, 204, 129, 0.12); grey (never materialized) has no such lead."""
    for colour in colours:
        parts = colour[colour.find("(") + 1 : colour.find(")")].split(",")
        if len(parts) >= 3 and (len(parts) < 4 or float(parts[3]) > 0):
            red, green, blue = (float(v) for v in parts[:3])
            if green > max(red, blue) and green >= red + 10:
                return True
    return False


def shows(label: str, name: str) -> bool:
    """True when `label` is `name` or the UI's shortening of it ('fct_trai…_features')."""
    if label == name:
        return True
    head, sep, tail = label.partition("\u2026")
    return bool(sep) and len(head) >= 3 and name.startswith(head) and name.endswith(tail)
