"""Headless Chromium (Debian's ``chromium`` + ``chromium-driver``) driven by Selenium.

No browser is downloaded at run time: the executables come from the system packages that
``.ci/run`` installs.  ``page_report`` collects what the report tests assert on: every
image's natural size, console messages, and every URL the page asked for (from Chrome's
performance log, i.e. the DevTools ``Network.requestWillBeSent`` events).
"""

from __future__ import annotations

import json
import os
import shutil
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

CHROMIUM = os.environ.get("CHROMIUM_BINARY", "/usr/bin/chromium")
CHROMEDRIVER = os.environ.get("CHROMEDRIVER", "/usr/bin/chromedriver")
SCREENSHOTS = Path(
    os.environ.get("SCREENSHOT_DIR", Path(__file__).parents[2] / "build/screenshots")
)


def require_browser() -> None:
    """Skip where Chromium is not installed, except in CI (REQUIRE_BROWSER=1), where a
    missing browser must fail rather than silently skip the check."""
    missing = [p for p in (CHROMIUM, CHROMEDRIVER) if not shutil.which(p)]
    if missing and os.environ.get("REQUIRE_BROWSER") != "1":
        pytest.skip(
            f"{', '.join(missing)} not installed (apt-get install chromium chromium-driver)"
        )
    assert not missing, f"{missing} missing: .ci/run installs chromium and chromium-driver"


def make_driver(*, width: int = 1280, height: int = 1000) -> Any:
    from selenium import webdriver
    from selenium.webdriver.chrome.service import Service

    options = webdriver.ChromeOptions()
    options.binary_location = CHROMIUM
    for flag in (
        "--headless=new",
        "--no-sandbox",  # CI runs as root
        "--disable-dev-shm-usage",
        "--disable-gpu",
        "--disable-extensions",
        "--disable-background-networking",  # no update or safe-browsing pings in the log
        "--disable-component-update",
        "--no-first-run",
        f"--window-size={width},{height}",
    ):
        options.add_argument(flag)
    options.set_capability("goog:loggingPrefs", {"browser": "ALL", "performance": "ALL"})
    return webdriver.Chrome(service=Service(executable_path=CHROMEDRIVER), options=options)


@dataclass
class PageReport:
    images: list[dict[str, Any]]  # id, natural and rendered sizes, complete
    console: list[dict[str, Any]]
    requested: list[str]  # every URL the page requested, the page itself included


def open_page(driver: Any, url: str) -> PageReport:
    """Load ``url`` and report on it; requests are read from the log of this load only."""
    driver.get_log("performance")  # drop what earlier pages logged
    driver.get_log("browser")
    driver.get(url)
    requested = []
    for entry in driver.get_log("performance"):
        message = json.loads(entry["message"])["message"]
        if message["method"] == "Network.requestWillBeSent":
            requested.append(message["params"]["request"]["url"])
    images = driver.execute_script(
        "return Array.from(document.images).map(i => ({id: i.id, complete: i.complete,"
        " naturalWidth: i.naturalWidth, naturalHeight: i.naturalHeight,"
        " width: i.getBoundingClientRect().width, height: i.getBoundingClientRect().height}));"
    )
    return PageReport(images=images, console=driver.get_log("browser"), requested=requested)


def full_page_screenshot(driver: Any, name: str) -> Path:
    """The whole page (window stretched to the document's height), under SCREENSHOTS."""
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    height = int(driver.execute_script("return document.documentElement.scrollHeight"))
    width = int(driver.get_window_size()["width"])
    driver.set_window_size(width, min(height + 120, 16000))
    path = SCREENSHOTS / name
    driver.save_screenshot(str(path))
    return path
