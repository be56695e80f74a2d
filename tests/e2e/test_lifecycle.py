"""Readiness and hot reload of a real server: empty registry -> first model -> promotion.

A model promoted in the database must reach responses (eventually: how fast is measured by
``bench/hot_swap.py``, not asserted here), and no request may fail while the server swaps
models under load.
"""

from __future__ import annotations

import time

import pytest
from sqlalchemy import select

from src.data import repository as repo
from src.data.database import get_engine, session_scope
from src.data.tables import ModelMetadata
from src.pipeline.deployment import activate
from tests.e2e.hammer import switch_under_load
from tests.e2e.helpers import (
    active_predictor,
    collect_rows,
    metric_value,
    pipeline_env,
    real_requests,
    train_model,
)
from tests.e2e.server import ADMIN_KEY, SERVER_ENV, running_server, wait_until

pytestmark = [pytest.mark.e2e, pytest.mark.slow]

POLL = float(SERVER_ENV["MODEL_POLL_INTERVAL_SECONDS"])


def test_ready_after_first_model_and_hot_swap_under_load(
    db_url: str, fast_training_env: None
) -> None:
    with running_server(db_url) as server, server.client() as client:
        assert client.get("/health").status_code == 200
        assert client.get("/ready").status_code == 503
        assert client.get("/model").status_code == 503
        assert client.post("/predict", json={}).status_code == 503

        with pipeline_env(db_url):
            collect_rows()
            first = train_model()
        wait_until(lambda: client.get("/ready").status_code == 200)
        assert client.get("/ready").json()["model_version"] == first

        request = real_requests(db_url, active_predictor(db_url).schema, 1)[0]
        assert client.post("/predict", json=request).json()["model_version"] == first

        with pipeline_env(db_url):
            second = train_model()  # registered as a candidate: the first model stays active
        assert second != first
        time.sleep(2 * POLL)
        assert client.post("/predict", json=request).json()["model_version"] == first

        with (
            switch_under_load(server.base_url, request, old=first, new=second),
            pipeline_env(db_url),
        ):
            activate(model_version=second)

        info = client.get("/model").json()
        assert info["model_version"] == second
        metrics = client.get("/metrics").text
        assert metric_value(metrics, 'model_reloads_total{result="success"}') == 2
        assert metric_value(metrics, f'model_loaded_info{{version="{second}"}}') == 1
        assert metric_value(metrics, f'model_loaded_info{{version="{first}"}}') == 0

        # A corrupt artifact activated behind the API's back: the old model keeps serving.
        corrupt_and_activate(db_url, first)
        wait_until(lambda: client.get("/model").json()["last_reload_error"])
        info = client.get("/model").json()
        assert info["model_version"] == second
        assert info["last_reload_error"]["version"] == first
        assert client.post("/predict", json=request).json()["model_version"] == second
        metrics = client.get("/metrics").text
        assert metric_value(metrics, 'model_reloads_total{result="failure"}') == 1
        assert metric_value(metrics, "model_last_reload_failed") == 1
        forced = client.post("/admin/reload", headers={"X-API-Key": ADMIN_KEY})
        assert forced.status_code == 409
        assert forced.json()["model_version"] == second and forced.json()["error"]


def corrupt_and_activate(database_url: str, version: str) -> None:
    """Flip bytes of a stored artifact (checksum now wrong) and make it the active model."""
    engine = get_engine(database_url)
    with session_scope(engine) as session:
        row = session.scalars(
            select(ModelMetadata).where(ModelMetadata.model_version == version)
        ).one()
        row.artifact = bytes(b ^ 0xFF for b in row.artifact[:64]) + row.artifact[64:]
    repo.activate_model(engine, version=version, reason="e2e: corrupt artifact")
