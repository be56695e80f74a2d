"""The ``batch_scoring`` DAG on 1, then 2 Celery workers: rows/s, speed-up, RSS per worker.

Used by ``bench/batch_scoring.py`` on the database it has already filled.  It starts the
Celery stack of ``make airflow-celery-smoke`` (scripts/celery_stack.py: api-server, scheduler,
dag-processor, Redis broker) with one worker, runs the DAG over every stored row, adds a
second worker and runs it again under a new batch run id.  *Span* is the time from the first
mapped ``score`` task's start to the last one's end (Airflow's own task timestamps); *wall*
adds planning, the summary and the scheduler's latency.  A sampler thread reads each
worker's processes (the worker, its pool, the task supervisor and task) every 0.5 s: the
peak of their summed RSS is the worker's peak (an upper bound: pages shared after a fork
count once per process).
"""

from __future__ import annotations

import datetime as dt
import logging
import shutil
import sys
import tempfile
import threading
import time
from pathlib import Path
from typing import Any

import _common as common

sys.path.insert(0, str(common.ROOT / "scripts"))
from airflow_api import Api
from airflow_harness import choose_api_port, temp_databases, write_admin_password
from celery_stack import CeleryStack
from process_groups import ProcessGroups

logger = logging.getLogger("bench.dag_scaling")
DAG_ID = "batch_scoring"


class RssSampler(threading.Thread):
    """Peak summed RSS (MiB) of each named process group, sampled every 0.5 s."""

    def __init__(self, groups: ProcessGroups) -> None:
        super().__init__(daemon=True)
        self.groups = groups
        self.peaks: dict[str, float] = {}
        self.halt = threading.Event()

    def run(self) -> None:
        while not self.halt.wait(0.5):
            for name in [n for n in self.groups.procs if n.startswith("worker-")]:
                total = 0.0
                for pid in self.groups.members(name):
                    try:
                        status = Path(f"/proc/{pid}/status").read_text()
                    except OSError:
                        continue
                    for line in status.splitlines():
                        if line.startswith("VmRSS:"):
                            total += int(line.split()[1]) / 1024
                self.peaks[name] = max(self.peaks.get(name, 0.0), total)


def _span(tis: list[dict[str, Any]]) -> float:
    starts = [dt.datetime.fromisoformat(t["start_date"]) for t in tis]
    ends = [dt.datetime.fromisoformat(t["end_date"]) for t in tis]
    return (max(ends) - min(starts)).total_seconds()


def _run(api: Api, *, run_id: str, chunk_size: int, rows: int) -> dict[str, Any]:
    started = time.perf_counter()
    dag_run = api.trigger(DAG_ID, {"run_id": run_id, "chunk_size": chunk_size})
    state = api.wait_run(DAG_ID, dag_run, time.monotonic() + 3600)
    wall = time.perf_counter() - started
    if state != "success":
        raise RuntimeError(f"{DAG_ID} {dag_run} ended {state}")
    tis = [t for t in api.task_instances(DAG_ID, dag_run) if t["task_id"] == "score"]
    summary = api.xcom(DAG_ID, dag_run, "summarise")
    if int(summary["rows_scored"]) != rows:
        raise RuntimeError(f"{DAG_ID} {dag_run} scored {summary['rows_scored']} of {rows} rows")
    span = _span(tis)
    return {"wall_s": wall, "span_s": span, "ranges": len(tis), "rows_per_second": rows / span}


def measure_dag(url: str, *, rows: int, chunk_size: int, env: dict[str, str]) -> list[dict]:
    """Both runs over the ``rows`` stored rows of ``url``; one result per worker count."""
    home = Path(tempfile.mkdtemp(prefix="bench_dag_"))
    results = []
    try:
        with temp_databases("bench_airflow", keep=False) as (metadata_url,):
            port = choose_api_port("BENCH_AIRFLOW_PORT")
            password = write_admin_password(home)
            stack = CeleryStack(home, port, metadata_url, url, env)
            sampler = RssSampler(stack.groups)
            try:
                stack.migrate()
                stack.start()
                stack.start_worker(1)
                api = Api(f"http://127.0.0.1:{port}", alive=stack.check_alive)
                api.wait_healthy(time.monotonic() + 300)
                api.login("admin", password)
                api.wait_for_dags([DAG_ID], time.monotonic() + 300)
                api.unpause(DAG_ID)
                sampler.start()
                for workers in (1, 2):
                    if workers == 2:
                        stack.start_worker(2)
                        time.sleep(5)  # let it connect before the tasks are queued
                    sampler.peaks.clear()
                    result = _run(api, run_id=f"dag-{workers}w", chunk_size=chunk_size, rows=rows)
                    result |= {"workers": workers, "peak_rss_mib": dict(sampler.peaks)}
                    logger.info("DAG on %d worker(s): %s", workers, result)
                    results.append(result)
            finally:
                sampler.halt.set()
                stack.stop()
    finally:
        shutil.rmtree(home, ignore_errors=True)
    return results
