"""The service's HTML pages in a real browser, headless Chromium with every
host but 127.0.0.1 unreachable (as on a network without the internet): the
memory dashboard of a service running two workers under load, and the API docs.

Needs Chromium and its driver (Debian: `apt-get install chromium chromium-driver`);
skipped without them unless REQUIRE_BROWSER=1, which turns the skip into a
failure (CI sets it). The screenshot is kept in test-artifacts/ (or
TEST_ARTIFACTS_DIR).
"""

import os
import shutil
import threading
from pathlib import Path

import httpx
import pytest

from tests.helpers import OPS_TOKEN, serving

pytestmark = pytest.mark.slow
CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")
CHROMEDRIVER = shutil.which("chromedriver")
CHROMIUM_ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--window-size=1100,1000",
    # Every other host fails to resolve: a page may need nothing from outside.
    "--host-resolver-rules=MAP * ~NOTFOUND , EXCLUDE 127.0.0.1",
]


@pytest.fixture
def browser():
    if not (CHROMIUM and CHROMEDRIVER):
        if os.environ.get("REQUIRE_BROWSER") == "1":
            pytest.fail("REQUIRE_BROWSER=1 but chromium or chromedriver is not installed")
        pytest.skip("chromium and chromedriver are not installed")
    from selenium import webdriver
    from selenium.webdriver.chrome.service import Service

    options = webdriver.ChromeOptions()
    options.binary_location = CHROMIUM
    for argument in CHROMIUM_ARGS:
        options.add_argument(argument)
    options.set_capability("goog:loggingPrefs", {"browser": "ALL"})
    driver = webdriver.Chrome(service=Service(CHROMEDRIVER), options=options)
    try:
        yield driver
    finally:
        driver.quit()


def _load(base: str, stop: threading.Event) -> None:
    """Requests in a loop until `stop`: both workers serve some."""
    with httpx.Client(base_url=base, timeout=10) as client:
        while not stop.is_set():
            try:
                client.get("/api/health")
                client.get("/api/uploads")  # a 401: authentication runs too
            except httpx.TransportError:  # the server stopping under the load
                return


def test_dashboard_draws_every_worker(browser, database_url, tmp_path):
    from selenium.webdriver.common.by import By
    from selenium.webdriver.support.ui import WebDriverWait

    env = {
        "DATABASE_URL": database_url,
        "UPLOAD_DIR": str(tmp_path / "uploads"),
        "MEMORY_SAMPLE_INTERVAL_MS": "100",
        "METRICS_TOKEN": OPS_TOKEN,
        "MEMORY_SHARE_DIR": str(tmp_path / "memory"),
    }
    stop = threading.Event()
    with serving(env, "--workers", "2") as (_, base):
        load = threading.Thread(target=_load, args=(base, stop), daemon=True)
        load.start()
        try:
            browser.get(f"{base}/api/health/dashboard")
            # The page holds no data: it asks for a token first.
            form = WebDriverWait(browser, 30).until(
                lambda driver: (
                    driver.find_element(By.ID, "sign-in").is_displayed()
                    and driver.find_element(By.ID, "sign-in")
                )
            )
            browser.find_element(By.ID, "token").send_keys(OPS_TOKEN)
            form.submit()
            # The page polls every 2 s; wait for both workers, each with a history.
            WebDriverWait(browser, 60).until(lambda driver: _drawn(driver) >= 10)
            _check_the_charts(browser)
            artifacts = Path(os.environ.get("TEST_ARTIFACTS_DIR", "test-artifacts"))
            artifacts.mkdir(parents=True, exist_ok=True)
            assert browser.save_screenshot(str(artifacts / "dashboard.png"))
        finally:
            stop.set()
            load.join(timeout=30)
        problems = [entry for entry in browser.get_log("browser") if entry["level"] == "SEVERE"]
        assert problems == []


def test_docs_draw_every_operation_from_the_service_alone(browser, database_url, tmp_path):
    from selenium.webdriver.common.by import By
    from selenium.webdriver.support.ui import WebDriverWait

    env = {"DATABASE_URL": database_url, "UPLOAD_DIR": str(tmp_path / "uploads")}
    with serving(env) as (_, base):
        document = httpx.get(f"{base}/api/openapi.json").json()
        operations = sum(len(item) for item in document["paths"].values())
        browser.get(f"{base}/")  # development: the root points to the docs
        WebDriverWait(browser, 30).until(
            lambda driver: len(driver.find_elements(By.CSS_SELECTOR, ".opblock")) == operations
        )
        assert browser.current_url == f"{base}/api/docs"
        problems = [entry for entry in browser.get_log("browser") if entry["level"] == "SEVERE"]
    assert problems == []


# What the charts show, read in one go: the page redraws them every 2 s.
SNAPSHOT = """
const all = (selector) => [...document.querySelectorAll(selector)];
const series = (selector) => all(selector).map((line) => ({
  pid: line.dataset.pid,
  classes: line.getAttribute("class").split(" "),
  points: line.getAttribute("points").split(" ").length,
}));
const y = (selector) => Number(document.querySelector(selector)?.getAttribute("y1"));
return {
  workers: document.getElementById("pressure").dataset.workers,
  pressure: series("#pressure polyline.pressure"),
  rss: series("#rss polyline.rss"),
  threshold: y("#pressure .threshold"),
  critical: y("#pressure .critical"),
  rss_thresholds: all("#rss .threshold, #rss .critical").length,
  times: [all("#pressure text.time"), all("#rss text.time")].map((t) => t.map((e) => e.textContent)),
  legend: all("#workers span").length,
  error: document.getElementById("error").textContent,
};
"""


def _drawn(driver) -> int:
    """The fewest points of a worker's series, once both workers are drawn (else 0)."""
    shown = driver.execute_script(SNAPSHOT)
    if shown["workers"] != "2":
        return 0
    return min((line["points"] for line in shown["pressure"] + shown["rss"]), default=0)


def _check_the_charts(browser) -> None:
    shown = browser.execute_script(SNAPSHOT)
    pids = {line["pid"] for line in shown["pressure"]}
    assert len(pids) == 2 and pids == {line["pid"] for line in shown["rss"]}, shown
    # Each worker its own colour (class w0, w1...), the same in both charts.
    colours = {
        line["pid"]: set(line["classes"]) - {"series", "pressure"} for line in shown["pressure"]
    }
    assert len({frozenset(colour) for colour in colours.values()}) == 2
    for line in shown["rss"]:
        assert colours[line["pid"]] == set(line["classes"]) - {"series", "rss"}
    # Pressure with its thresholds on one axis (critical higher up); RSS apart.
    assert 0 < shown["critical"] < shown["threshold"]
    assert shown["rss_thresholds"] == 0
    # Clock times under both charts.
    for labels in shown["times"]:
        assert len(labels) >= 2 and all(label.count(":") == 2 for label in labels), labels
    assert shown["legend"] == 2 and shown["error"] == ""
