"""PostgreSQL crashes (immediate shutdown) under concurrent traffic and comes back.

``tests/e2e/test_outage.py`` already proves the basic case and is not repeated here: the
service starts without its database, and with PostgreSQL cleanly stopped (``-m fast``)
30 sequential predictions are answered, buffered (buffer depth == 30, flush failures >= 1)
and all land in ``loan_data.predictions`` within 10 s of the restart, none dropped.

This variant is harsher: several clients keep posting while PostgreSQL is stopped with
``-m immediate`` (a crash: connections cut mid-flush, no checkpoint, recovery on start), so
a flush can fail after its INSERT reached the server.  Every answered request must then be
logged exactly once, with the probability and model version the client received.
"""

from __future__ import annotations

import threading
from collections.abc import Iterator
from typing import Any

import httpx
import pytest
from sqlalchemy import select, text

from src.data import repository as repo
from src.data.database import get_engine, init_db, session_scope
from src.data.feature_schema import FeatureSchema
from src.data.tables import Prediction
from tests.e2e import pg_cluster
from tests.e2e.helpers import metric_value, real_requests
from tests.e2e.pg_cluster import PgCluster
from tests.e2e.server import running_server, wait_until
from tests.faults.helpers import copy_model

pytestmark = [pytest.mark.integration, pytest.mark.e2e, pytest.mark.slow]

CLIENTS = 4


@pytest.fixture
def cluster(template_url: str) -> Iterator[PgCluster]:
    reason = pg_cluster.available()
    if reason:
        pytest.skip(reason)
    with PgCluster.create() as cluster:
        # The throwaway cluster runs with synchronous_commit=off for speed: a crash then loses
        # commits it had acknowledged (found by this test).  The service's sessions get the
        # PostgreSQL default back, so an acknowledged commit survives the crash as in production.
        engine = get_engine(cluster.url)
        with engine.connect().execution_options(isolation_level="AUTOCOMMIT") as conn:
            conn.execute(text("ALTER DATABASE postgres SET synchronous_commit = on"))
        engine.dispose()
        init_db(get_engine(cluster.url))
        copy_model(template_url, cluster.url, version="v0001", new_version="v0001")
        repo.activate_model(get_engine(cluster.url), version="v0001", reason="crash test")
        get_engine(cluster.url).dispose()
        yield cluster


class Client(threading.Thread):
    """Posts /predict back to back with its own request ids; records every answer."""

    def __init__(self, index: int, base_url: str, requests: list[dict[str, Any]]) -> None:
        super().__init__(daemon=True)
        self.index, self.base_url, self.requests = index, base_url, requests
        self.answers: dict[str, tuple[int, dict[str, Any]]] = {}
        self.failures: list[str] = []
        self.stop = threading.Event()

    def run(self) -> None:
        with httpx.Client(base_url=self.base_url, timeout=30) as client:
            for seq in range(100_000):  # bounded; stopped by the test long before
                if self.stop.is_set():
                    return
                rid = f"crash-{self.index}-{seq}"
                try:
                    response = client.post(
                        "/predict",
                        json=self.requests[seq % len(self.requests)],
                        headers={"X-Request-ID": rid},
                    )
                except httpx.HTTPError as exc:
                    self.failures.append(repr(exc))
                    continue
                self.answers[rid] = (response.status_code, response.json())


def test_crash_and_recovery_under_load_logs_every_answer_once(
    cluster: PgCluster, template_url: str
) -> None:
    url = cluster.url
    with running_server(url) as server, server.client() as control:
        schema = FeatureSchema.from_dict(control.get("/model").json()["feature_schema"])
        requests = real_requests(template_url, schema, 50)
        clients = [Client(i, server.base_url, requests) for i in range(CLIENTS)]
        for client in clients:
            client.start()

        def answered() -> int:
            return sum(len(c.answers) for c in clients)

        try:
            wait_until(lambda: answered() >= 100)
            cluster.stop(mode="immediate")  # crash while flushes are in flight
            crashed_at = answered()
            wait_until(lambda: answered() >= crashed_at + 40)  # served meanwhile
            wait_until(  # the flusher noticed the crash
                lambda: metric_value(
                    control.get("/metrics").text, "prediction_log_flush_failures_total"
                ),
            )
            cluster.start()
            restarted_at = answered()
            wait_until(lambda: answered() >= restarted_at + 40)
        finally:
            for client in clients:
                client.stop.set()
            for client in clients:
                client.join(30)

        answers = {rid: answer for c in clients for rid, answer in c.answers.items()}
        assert [f for c in clients for f in c.failures] == []
        assert {status for status, _ in answers.values()} == {200}

        def logged() -> dict[str, tuple[float, str]]:
            with session_scope(get_engine(url)) as session:
                rows = session.execute(
                    select(Prediction.request_id, Prediction.probability, Prediction.model_version)
                ).all()
            return {rid: (p, v) for rid, p, v in rows}

        try:
            wait_until(lambda: set(logged()) >= set(answers), interval=0.2)
        except AssertionError:
            missing = sorted(set(answers) - set(logged()))
            stats = [line for line in control.get("/metrics").text.splitlines() if "_log_" in line]
            pytest.fail(f"{len(missing)} answered requests never logged: {missing[:10]} {stats}")
        rows = logged()
        assert set(rows) == set(answers), "every answered request logged, nothing else"
        for rid, (_, body) in answers.items():
            assert rows[rid] == (pytest.approx(body["probability"]), body["model_version"]), rid
        metrics = control.get("/metrics").text
        assert metric_value(metrics, 'prediction_log_dropped_total{reason="overflow"}') == 0
        assert metric_value(metrics, 'prediction_log_dropped_total{reason="rejected"}') == 0
        assert metric_value(metrics, "prediction_log_buffer_depth") == 0
        print(f"{len(answers)} answers, {crashed_at} before the crash, all logged once")
    get_engine(url).dispose()
