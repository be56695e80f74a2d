"""The compose smoke's checks on a running stack: the reference design's commands as written.

Airflow runs are started with the reference CLI (``docker exec loan_airflow_scheduler airflow
dags trigger ...``) and watched through the REST API on the published port; the registry is
read with the reference ``psql`` command and the API is called on its published port.
"""

from __future__ import annotations

import json
import logging
import os
import re
import time
from collections.abc import Callable
from contextlib import AbstractContextManager
from typing import Any

import httpx

log = logging.getLogger("compose-smoke")

PSQL_ARGS = ["loan_postgres", "psql", "-U", "mlops_user", "-d", "loan_default"]
# The reference command with `-t` for `-it`; with a terminal psql pages long output through
# `more`, which would wait for a key press that never comes, hence PSQL_PAGER=cat.
REFERENCE_PSQL = ["docker", "exec", "-t", "-e", "PSQL_PAGER=cat", *PSQL_ARGS]
ACTIVE_MODELS = "SELECT * FROM loan_data.model_metadata WHERE is_active = true;"
SCHEDULER = "loan_airflow_scheduler"
PROJECT = "label=com.docker.compose.project=loan-default"


class StackChecks:
    def __init__(
        self,
        *,
        sh: Callable[..., str],
        timed: Callable[[str], AbstractContextManager[None]],
        timeout: float,
        failure: type[Exception],
    ) -> None:
        self.sh, self.timed, self.timeout, self.failure = sh, timed, timeout, failure
        airflow = f"http://127.0.0.1:{os.environ.get('AIRFLOW_PUBLISHED_PORT', '18080')}"
        api = f"http://127.0.0.1:{os.environ.get('API_PUBLISHED_PORT', '18000')}"
        self.airflow = httpx.Client(base_url=airflow, timeout=60)
        self.api = httpx.Client(base_url=api, timeout=60)
        self.facts: list[str] = []

    # --- helpers ----------------------------------------------------------------------------
    def wait(self, what: str, probe: Callable[[], Any], pause: float = 3) -> Any:
        deadline = time.monotonic() + self.timeout
        while True:
            result = probe()
            if result:
                return result
            if time.monotonic() > deadline:
                raise self.failure(f"timed out after {self.timeout:.0f} s waiting for {what}")
            time.sleep(pause)

    def rest(self, method: str, path: str, **kwargs: Any) -> Any:
        r = self.airflow.request(method, path, **kwargs)
        if r.status_code >= 300:
            raise self.failure(f"{method} {path} -> {r.status_code}: {r.text[:500]}")
        return r.json()

    def login(self) -> None:
        body = {"username": "admin", "password": os.environ["AIRFLOW_ADMIN_PASSWORD"]}
        token = self.rest("POST", "/auth/token", json=body)["access_token"]
        self.airflow.headers["Authorization"] = f"Bearer {token}"

    def trigger(self, dag_id: str) -> str:
        """The reference command; the run id is read from its output."""
        out = self.sh("docker", "exec", SCHEDULER, "airflow", "dags", "trigger", dag_id)
        match = re.search(r"manual__[0-9T:.+\-_a-zA-Z]+", out)
        if not match:
            raise self.failure(f"no run id in the output of `airflow dags trigger {dag_id}`")
        return match[0]

    def trigger_daily(self, dag_id: str) -> str:
        """The daily DAGs are created paused (a triggered run waits): unpause, as in the UI."""
        run = self.trigger(dag_id)
        self.rest("PATCH", f"/api/v2/dags/{dag_id}", json={"is_paused": False})
        return run

    def run_succeeds(self, dag_id: str, run_id: str) -> list[dict[str, Any]]:
        path = f"/api/v2/dags/{dag_id}/dagRuns/{run_id}"
        state = self.wait(
            f"{dag_id} {run_id} to finish",
            lambda: (s := self.rest("GET", path)["state"]) in ("success", "failed") and s,
        )
        tis = self.rest("GET", f"{path}/taskInstances", params={"limit": 1000})["task_instances"]
        summary = ", ".join(
            f"{t['task_id']}={t['state']}@{t['hostname']}#{t['try_number']}" for t in tis
        )
        log.info("  %s %s: %s (task=state@host#try: %s)", dag_id, run_id, state, summary)
        if state != "success":
            raise self.failure(f"{dag_id} {run_id} ended {state}: {summary}")
        # Tasks must not depend on Airflow's retries (e.g. an execution-API call timing out).
        retried = [t["task_id"] for t in tis if (t["try_number"] or 0) > 1]
        if retried:
            raise self.failure(f"{dag_id} {run_id} needed retries of {retried}: {summary}")
        return list(tis)

    def healthy(self, container: str) -> None:
        fmt = "{{.State.Health.Status}}"
        self.wait(
            f"{container} to be healthy",
            lambda: self.sh("docker", "inspect", "-f", fmt, container).strip() == "healthy",
            pause=5,
        )

    # --- the steps --------------------------------------------------------------------------
    def reference_status(self) -> None:
        out = self.sh("docker-compose", "ps", "postgres")
        if "healthy" not in out or "unhealthy" in out:
            raise self.failure("`docker-compose ps postgres` does not show it healthy")
        out = self.sh("docker-compose", "logs", "postgres")
        if "database system is ready to accept connections" not in out:
            raise self.failure("`docker-compose logs postgres` lacks the ready message")

    def collect_and_train(self) -> None:
        self.login()
        dags = ("data_collection", "model_training", "model_validation_deployment")
        self.wait(
            "the three DAGs to be parsed",
            lambda: (
                set(dags)
                <= {
                    d["dag_id"]
                    for d in self.rest("GET", "/api/v2/dags", params={"limit": 100})["dags"]
                }
            ),
        )
        self.run_succeeds("data_collection", self.trigger_daily("data_collection"))
        rows = self.query("SELECT count(*) FROM loan_data.raw_data;")
        self.facts.append(f"raw_data {rows} rows")
        self.run_succeeds("model_training", self.trigger("model_training"))

    def query(self, sql: str) -> str:
        return self.sh("docker", "exec", *PSQL_ARGS, "-At", "-c", sql).strip()

    def one_active_model(self) -> str:
        out = self.sh(*REFERENCE_PSQL, "-c", ACTIVE_MODELS)
        if "(1 row)" not in out:
            raise self.failure(f"expected exactly one active model, psql printed:\n{out[-800:]}")
        version = self.query("SELECT model_version FROM loan_data.model_metadata WHERE is_active;")
        self.facts.append(f"active model {version}")
        return version

    def predict(self, version: str) -> None:
        self.wait(
            f"the API to serve {version}",
            lambda: self.api.get("/ready").json().get("model_version") == version,
        )
        schema = self.api.get("/model").json()["feature_schema"]
        features = json.loads(
            self.query("SELECT features FROM loan_data.processed_data ORDER BY raw_id LIMIT 1;")
        )
        body = {
            "categorical_features": {c: features.get(c) for c in schema["categorical"]},
            "numerical_features": {n: features.get(n) for n in schema["numerical"]},
        }
        r = self.api.post(
            "/predict", json=body, headers={"X-API-Key": os.environ["PREDICT_API_KEY"]}
        )
        log.info("  POST /predict -> %d %s", r.status_code, r.text[:300])
        if r.status_code != 200 or r.json().get("model_version") != version:
            raise self.failure(f"/predict answered {r.status_code}: {r.text[:500]}")
        self.facts.append(f"/predict 200 by {version}, p={r.json()['probability']:.3f}")

    def restart_scheduler(self) -> None:
        self.sh("docker-compose", "restart", "airflow-scheduler")
        self.healthy(SCHEDULER)
        self.run_succeeds("data_collection", self.trigger("data_collection"))

    def celery(self) -> None:
        os.environ["AIRFLOW_EXECUTOR"] = "CeleryExecutor"
        self.sh(
            "docker", "compose", "--profile", "celery", "up", "-d", "--wait",
            "--wait-timeout", f"{self.timeout:.0f}",
        )  # fmt: skip
        ids = self.sh("docker", "ps", "-q", "--filter", PROJECT, "--filter",
                      "label=com.docker.compose.service=airflow-worker").split()  # fmt: skip
        if len(ids) != 2:
            raise self.failure(f"expected 2 Celery workers, found {ids}")
        self.login()  # the api-server was recreated with the new executor
        tis = self.run_succeeds("model_training", self.trigger("model_training"))
        hosts = {t["hostname"] for t in tis}
        if not hosts or not hosts <= {i[:12] for i in ids}:
            raise self.failure(f"model_training ran on {hosts}, not on the workers {ids}")
        self.facts.append(f"model_training on Celery worker(s) {sorted(hosts)}")

    def run_all(self) -> str:
        with self.timed("docker-compose ps / logs postgres"):
            self.reference_status()
        with self.timed("trigger data_collection, then model_training; both succeed"):
            self.collect_and_train()
        with self.timed("psql: exactly one active model; POST /predict answered by it"):
            self.predict(self.one_active_model())
        with self.timed("trigger model_validation_deployment; it succeeds"):
            dag_id = "model_validation_deployment"
            self.run_succeeds(dag_id, self.trigger_daily(dag_id))
        with self.timed("docker-compose restart airflow-scheduler; a new run completes"):
            self.restart_scheduler()
        with self.timed("--profile celery, 2 workers: model_training on a worker"):
            self.celery()
        with self.timed("psql: still exactly one active model"):
            self.one_active_model()
        return "; ".join(self.facts)
