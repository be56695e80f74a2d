"""The registry page and model reports in a real browser (headless Chromium), served by a
real uvicorn on real PostgreSQL with two trained models, and the CLI's report file offline.

Checks the issue's acceptance: every plot rendered with a non-zero natural size, no console
error, no request leaving the server (or, for the file, the file), and the version and AUC
shown equal the registry's.  Screenshots go to build/screenshots (SCREENSHOT_DIR).
"""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pytest
from selenium.webdriver.common.by import By

from src.data import repository as repo
from src.data.database import get_engine, session_scope
from tests.e2e.browser import full_page_screenshot, make_driver, open_page, require_browser
from tests.e2e.helpers import (
    FAST_TRAINING_ENV,
    collect_rows,
    fresh_database,
    pipeline_env,
    real_requests,
    train_model,
)
from tests.e2e.server import ADMIN_KEY, REPO_ROOT, running_server

PLOTS = {"roc", "pr", "ks", "reliability", "confusion", "scores", "lift"}


@dataclass
class Site:
    database_url: str
    base_url: str
    registry: dict[str, dict[str, Any]]  # version -> status and roc_auc from the registry


@pytest.fixture(scope="module")
def site() -> Iterator[Site]:
    """Two models of one line (the second through the gate), a few logged explained
    decisions, one uvicorn serving them."""
    require_browser()
    with fresh_database() as url:
        with pipeline_env(url):
            from src.pipeline.deployment import deploy

            collect_rows(3000)
            train_model()  # the line's first model is activated at registration
            collect_rows(2000)
            deploy(model_version=train_model())
        with session_scope(get_engine(url)) as session:
            registry = {
                m.model_version: {"status": m.status, "roc_auc": m.roc_auc}
                for m in repo.list_models(session)
            }
        with running_server(url) as server, server.client() as client:
            from src.pipeline.serving import predictor_for

            with session_scope(get_engine(url)) as session:
                active = repo.get_active_model(session, source="lending_club")
                assert active is not None
                schema = predictor_for(active).schema
            for request in real_requests(url, schema, 8):
                answer = client.post("/predict", params={"explain": "true"}, json=request)
                assert answer.status_code == 200, answer.text
            yield Site(database_url=url, base_url=server.base_url, registry=registry)


@pytest.fixture(scope="module")
def driver(site: Site) -> Iterator[Any]:
    browser = make_driver()
    try:
        yield browser
    finally:
        browser.quit()


def assert_clean(report: Any, *, allowed: tuple[str, ...]) -> None:
    errors = [m for m in report.console if m["level"] == "SEVERE"]
    assert not errors, f"console errors: {errors}"
    # data: URIs are the inline plots themselves; nothing else may be asked for.
    leaving = [u[:120] for u in report.requested if not u.startswith((*allowed, "data:"))]
    assert not leaving, f"requests that leave {allowed}: {leaving}"


def assert_plots_rendered(report: Any) -> None:
    shown = {image["id"].removeprefix("plot-") for image in report.images}
    assert shown >= PLOTS, f"plots missing: {PLOTS - shown}"
    for image in report.images:
        assert image["complete"] and image["naturalWidth"] > 0 and image["naturalHeight"] > 0, image
        assert image["width"] > 0 and image["height"] > 0, image


def test_registry_page_lists_every_version_with_the_registry_auc(site: Site, driver: Any) -> None:
    report = open_page(driver, f"{site.base_url}/models")
    assert_clean(report, allowed=(site.base_url,))
    rows = driver.find_elements(By.CSS_SELECTOR, "#registry tbody tr")
    shown = {row.get_attribute("data-version"): row for row in rows}
    assert set(shown) == set(site.registry)
    for version, stored in site.registry.items():
        auc = shown[version].find_element(By.CSS_SELECTOR, "td.auc").text
        assert auc == f"{stored['roc_auc']:.4f}"
        assert stored["status"] in shown[version].text
    full_page_screenshot(driver, "models.png")
    listing = httpx.get(f"{site.base_url}/models.json").json()
    assert [r["version"] for r in listing] == sorted(site.registry, reverse=True)
    newer = listing[0]
    assert newer["previous_champion"] == listing[1]["version"]
    assert newer["deltas"]["roc_auc"] == pytest.approx(
        site.registry[newer["version"]]["roc_auc"] - site.registry[listing[1]["version"]]["roc_auc"]
    )


@pytest.mark.parametrize("which", [0, 1])
def test_report_pages_render_every_plot_offline(site: Site, driver: Any, which: int) -> None:
    version = sorted(site.registry)[which]
    report = open_page(driver, f"{site.base_url}/models/{version}/report")
    assert_clean(report, allowed=(site.base_url,))
    assert_plots_rendered(report)
    assert driver.find_element(By.ID, "model-version").text == version
    stored = site.registry[version]["roc_auc"]
    assert driver.find_element(By.ID, "registry-auc").text == f"{stored:.4f}"
    # Recomputed on the same held-out rows by the same model: the registry's number again.
    assert float(driver.find_element(By.ID, "model-auc").text) == pytest.approx(stored, abs=2e-4)
    assert "admin only" in driver.find_element(By.CSS_SELECTOR, "p.note").text
    full_page_screenshot(driver, f"report-{version}.png")


def test_card_json_matches_the_registry_and_hides_admin_data(site: Site) -> None:
    version = sorted(site.registry)[-1]
    url = f"{site.base_url}/models/{version}/card.json"
    public = httpx.get(url, timeout=60).json()
    assert public["model"]["version"] == version
    assert public["model"]["registry_metrics"]["roc_auc"] == site.registry[version]["roc_auc"]
    assert "training_config" not in public["admin"]
    assert public["comparison"]["rival"] in site.registry
    assert public["explanations"]["sample"] == 8 and public["explanations"]["features"]
    admin = httpx.get(url, headers={"X-API-Key": ADMIN_KEY}, timeout=60).json()
    assert admin["admin"]["training_config"]["seed"] is not None
    assert httpx.get(url, headers={"X-API-Key": "wrong"}, timeout=60).status_code == 401
    assert httpx.get(f"{site.base_url}/models/v9999/card.json").status_code == 404


def test_cli_report_file_renders_offline_from_disk(site: Site, driver: Any, tmp_path: Path) -> None:
    version = sorted(site.registry)[0]
    output = tmp_path / "report.html"
    env = {**os.environ, **FAST_TRAINING_ENV, "DATABASE_URL": site.database_url}
    done = subprocess.run(
        [sys.executable, "-m", "src.cli", "report", version, "--output", str(output)],
        cwd=REPO_ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    assert output.stat().st_size < 2 * 1024 * 1024
    report = open_page(driver, output.as_uri())
    assert_clean(report, allowed=(output.as_uri(),))
    assert_plots_rendered(report)
    assert driver.find_element(By.ID, "model-version").text == version
    assert (
        driver.find_element(By.ID, "registry-auc").text
        == f"{site.registry[version]['roc_auc']:.4f}"
    )
    assert driver.find_element(By.ID, "training-config").text  # the CLI user sees admin data
    full_page_screenshot(driver, "report-file.png")
