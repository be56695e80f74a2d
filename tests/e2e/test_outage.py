"""PostgreSQL away at startup (the service starts, not ready) and under a serving process
(predictions continue, the log catches up when it returns).

Runs against a private throwaway cluster (``throwaway_cluster``), never the shared server.
"""

from __future__ import annotations

import pytest

from src.data.database import get_engine, init_db
from tests.e2e.helpers import (
    active_predictor,
    collect_rows,
    logged_request_ids,
    metric_value,
    pipeline_env,
    real_requests,
    train_model,
)
from tests.e2e.pg_cluster import PgCluster
from tests.e2e.server import running_server, wait_until

pytestmark = [pytest.mark.e2e, pytest.mark.slow]

N_DURING_OUTAGE = 30


def test_predictions_survive_a_database_outage(throwaway_cluster: PgCluster) -> None:
    url = throwaway_cluster.url
    init_db(get_engine(url))
    with pipeline_env(url):
        collect_rows()
        version = train_model()
    requests = real_requests(url, active_predictor(url).schema, N_DURING_OUTAGE)
    get_engine(url).dispose()

    throwaway_cluster.stop()  # the service must start without its database...
    with running_server(url) as server, server.client() as client:
        assert client.get("/health").status_code == 200
        ready = client.get("/ready")
        assert ready.status_code == 503 and "no model" in ready.json()["detail"]
        throwaway_cluster.start()  # ...and become ready once the database is back
        wait_until(lambda: client.get("/ready").status_code == 200)

        # The startup outage already counted poll errors: wait for new ones, not those.
        polls_failed_before = metric_value(client.get("/metrics").text, "model_poll_errors_total")
        throwaway_cluster.stop()

        ids = [f"outage-{i}" for i in range(N_DURING_OUTAGE)]
        for rid, request in zip(ids, requests, strict=True):
            response = client.post("/predict", json=request, headers={"X-Request-ID": rid})
            assert response.status_code == 200, response.text
            assert response.json()["model_version"] == version
        assert client.get("/ready").status_code == 200

        # Wait (not sleep) until the poller and the flusher have both hit the dead database.
        def both_failed() -> str | None:
            text = client.get("/metrics").text
            flush_failed = metric_value(text, "prediction_log_flush_failures_total") >= 1
            poll_failed = metric_value(text, "model_poll_errors_total") > polls_failed_before
            return text if flush_failed and poll_failed else None

        metrics = wait_until(both_failed)
        assert metric_value(metrics, "prediction_log_buffer_depth") == N_DURING_OUTAGE
        assert metric_value(metrics, "prediction_log_flush_failures_total") >= 1
        assert metric_value(metrics, "model_poll_errors_total") > polls_failed_before
        assert client.get("/model").json()["last_poll_error"] is not None

        throwaway_cluster.start()
        wait_until(lambda: logged_request_ids(url, ids) == set(ids), interval=0.2)

        metrics = client.get("/metrics").text
        assert metric_value(metrics, "prediction_log_buffer_depth") == 0
        assert metric_value(metrics, 'prediction_log_dropped_total{reason="overflow"}') == 0
        wait_until(lambda: client.get("/model").json()["last_poll_error"] is None)
    get_engine(url).dispose()
