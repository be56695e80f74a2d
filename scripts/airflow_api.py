"""A small client of Airflow 3's public REST API (``/api/v2``) for the smoke tests and benches.

It logs in through the simple auth manager (``POST /auth/token``, a JWT), then waits for
health, parsed DAGs, DAG runs and task instances, raising :class:`SmokeFailure` with the
server's answer when a call fails.  ``alive`` is called while waiting, so a crashed
component fails the wait at once instead of at its deadline.
"""

from __future__ import annotations

import contextlib
import time
from collections.abc import Callable, Iterable
from typing import Any

import httpx
from airflow_harness import TERMINAL, SmokeFailure, step


class Api:
    def __init__(self, base: str, alive: Callable[[], None]) -> None:
        self.base = base
        self.alive = alive
        self.client = httpx.Client(base_url=base, timeout=30)

    def _wait(self, what: str, deadline: float, probe: Callable[[], Any], pause: float = 1) -> Any:
        while True:
            self.alive()
            result = probe()
            if result:
                return result
            if time.monotonic() > deadline:
                raise SmokeFailure(f"timed out waiting for {what}")
            time.sleep(pause)

    def wait_healthy(self, deadline: float) -> None:
        def healthy() -> bool:
            with contextlib.suppress(httpx.HTTPError, ValueError, KeyError):
                r = self.client.get("/api/v2/monitor/health")
                return r.status_code == 200 and all(
                    r.json()[part]["status"] == "healthy" for part in ("metadatabase", "scheduler")
                )
            return False

        self._wait("/api/v2/monitor/health", deadline, healthy)

    def login(self, username: str, password: str) -> None:
        r = self.client.post("/auth/token", json={"username": username, "password": password})
        if r.status_code not in (200, 201):
            raise SmokeFailure(f"POST /auth/token -> {r.status_code}: {r.text}")
        self.client.headers["Authorization"] = f"Bearer {r.json()['access_token']}"

    def request(self, method: str, path: str, **kwargs: Any) -> Any:
        r = self.client.request(method, path, **kwargs)
        if r.status_code >= 300:
            raise SmokeFailure(f"{method} {path} -> {r.status_code}: {r.text[:500]}")
        return r.json()

    def wait_for_dags(self, dag_ids: Iterable[str], deadline: float) -> None:
        wanted = set(dag_ids)

        def parsed() -> bool:
            dags = self.request("GET", "/api/v2/dags", params={"limit": 100})["dags"]
            return wanted <= {d["dag_id"] for d in dags}

        self._wait(f"DAGs {sorted(wanted)} to be parsed", deadline, parsed)

    def unpause(self, *dag_ids: str) -> None:
        for dag_id in dag_ids:
            self.request("PATCH", f"/api/v2/dags/{dag_id}", json={"is_paused": False})
        step("unpaused %s", ", ".join(dag_ids))

    def trigger(self, dag_id: str, conf: dict[str, Any]) -> str:
        run = self.request(
            "POST", f"/api/v2/dags/{dag_id}/dagRuns", json={"logical_date": None, "conf": conf}
        )
        step("triggered %s %s with %s", dag_id, run["dag_run_id"], conf)
        return str(run["dag_run_id"])

    def run_state(self, dag_id: str, run_id: str) -> str:
        return str(self.request("GET", f"/api/v2/dags/{dag_id}/dagRuns/{run_id}")["state"])

    def task_instances(self, dag_id: str, run_id: str) -> list[dict[str, Any]]:
        """Every task instance of a run, mapped ones included (one entry per map index)."""
        path = f"/api/v2/dags/{dag_id}/dagRuns/{run_id}/taskInstances"
        return list(self.request("GET", path, params={"limit": 1000})["task_instances"])

    def task_states(self, dag_id: str, run_id: str) -> dict[str, str | None]:
        return {ti["task_id"]: ti["state"] for ti in self.task_instances(dag_id, run_id)}

    def xcom(self, dag_id: str, run_id: str, task_id: str, map_index: int = -1) -> Any:
        path = f"/api/v2/dags/{dag_id}/dagRuns/{run_id}/taskInstances/{task_id}"
        params = {"map_index": map_index}
        return self.request("GET", f"{path}/xcomEntries/return_value", params=params)["value"]

    def wait_run(self, dag_id: str, run_id: str, deadline: float) -> str:
        last: list[str] = []

        def finished() -> str | None:
            state = self.run_state(dag_id, run_id)
            if not last or state != last[-1]:
                step("%s %s: %s", dag_id, run_id, state)
                last.append(state)
            return state if state in TERMINAL else None

        return str(self._wait(f"{dag_id} {run_id}", deadline, finished, pause=2))

    def find_triggered_run(self, dag_id: str, marker: str, deadline: float) -> str:
        """The run of ``dag_id`` whose conf says ``triggered_by=marker``."""

        def found() -> str | None:
            runs = self.request("GET", f"/api/v2/dags/{dag_id}/dagRuns")["dag_runs"]
            for run in runs:
                if (run.get("conf") or {}).get("triggered_by") == marker:
                    return str(run["dag_run_id"])
            return None

        return str(self._wait(f"a {dag_id} run with triggered_by={marker}", deadline, found))
