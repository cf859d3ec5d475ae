"""The memory dashboard in a real browser: headless Chromium against a running service.

Needs Chromium and its driver (Debian: `apt-get install chromium chromium-driver`);
skipped without them unless REQUIRE_BROWSER=1, which turns the skip into a
failure (CI sets it). The screenshot is kept in test-artifacts/ (or
TEST_ARTIFACTS_DIR).
"""

import os
import shutil
from pathlib import Path

import pytest

from tests.helpers import OPS_TOKEN, serving

CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")
CHROMEDRIVER = shutil.which("chromedriver")
CHROMIUM_ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--window-size=1100,700",
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


def test_dashboard_draws_memory_over_time(browser, database_url, tmp_path):
    from selenium.webdriver.common.by import By
    from selenium.webdriver.support.ui import WebDriverWait

    env = {
        "DATABASE_URL": database_url,
        "UPLOAD_DIR": str(tmp_path / "uploads"),
        "MEMORY_SAMPLE_INTERVAL_MS": "100",
        "METRICS_TOKEN": OPS_TOKEN,
    }
    with serving(env) as (_, base):
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
        # The page polls every 2 s; wait for a redraw with several samples.
        WebDriverWait(browser, 30).until(
            lambda driver: (
                int(driver.find_element(By.ID, "chart").get_attribute("data-points")) >= 10
            )
        )
        points = browser.find_element(By.ID, "pressure-line").get_attribute("points").split()
        rss_points = browser.find_element(By.ID, "rss-line").get_attribute("points").split()
        assert len(points) >= 10 and len(rss_points) == len(points)
        threshold_y = float(browser.find_element(By.ID, "threshold-line").get_attribute("y1"))
        critical_y = float(browser.find_element(By.ID, "critical-line").get_attribute("y1"))
        assert 0 < critical_y < threshold_y  # critical is higher up the chart
        summary = browser.find_element(By.ID, "summary").text
        assert "MiB" in summary and "pressure" in summary
        assert browser.find_element(By.ID, "error").text == ""

        artifacts = Path(os.environ.get("TEST_ARTIFACTS_DIR", "test-artifacts"))
        artifacts.mkdir(parents=True, exist_ok=True)
        assert browser.save_screenshot(str(artifacts / "dashboard.png"))

        problems = [entry for entry in browser.get_log("browser") if entry["level"] == "SEVERE"]
        assert problems == []
