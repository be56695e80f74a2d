"""Two uvicorn workers (``loan-default serve`` with ``WEB_CONCURRENCY=2``) through a promotion.

Each worker loads, polls and hot-swaps the model and flushes its own prediction log; /metrics
merges all workers (Prometheus multiprocess mode).  Over real HTTP and PostgreSQL: no request
fails, both workers answer, after the swap every worker answers with the new version, every
answered request is logged once, and the merged counters equal the answered count.

Which worker answered is read from the outside, without a response header: each load thread
keeps one keep-alive connection, and ``/proc`` says which worker process holds it.
"""

from __future__ import annotations

import logging
import os
import re
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import func, select

from src.data.database import get_engine, session_scope
from src.data.tables import Prediction
from src.pipeline.deployment import activate
from tests.e2e.hammer import Hammer
from tests.e2e.helpers import (
    active_predictor,
    collect_rows,
    fresh_database,
    metric_value,
    pipeline_env,
    real_requests,
    train_model,
)
from tests.e2e.server import ApiServer, running_server, wait_until

pytestmark = [pytest.mark.e2e, pytest.mark.slow]
logger = logging.getLogger(__name__)

MIN_THREADS, MAX_THREADS = 4, 12
_SAMPLE = re.compile(r"^(\w+)\{(.*)\} (\S+)$")
_LABEL = re.compile(r'(\w+)="([^"]*)"')


def worker_versions(metrics_text: str) -> dict[int, str]:
    """pid -> the version whose ``model_loaded_info`` is 1 in that worker (a liveall gauge)."""
    served = {}
    for line in metrics_text.splitlines():
        match = _SAMPLE.match(line)
        if match and match.group(1) == "model_loaded_info" and float(match.group(3)) == 1:
            labels = dict(_LABEL.findall(match.group(2)))
            served[int(labels["pid"])] = labels["version"]
    return served


def children(pid: int) -> set[int]:
    """Processes whose parent is ``pid`` (from /proc: no psutil needed)."""
    found = set()
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            text = stat.read_text()
        except OSError:  # exited meanwhile
            continue
        if int(text.rsplit(")", 1)[1].split()[1]) == pid:
            found.add(int(stat.parent.name))
    return found


def connections_by_worker(pids: set[int], port: int) -> dict[int, int]:
    """Established connections to ``port`` held by each of ``pids`` (server side)."""
    owner = {}
    for pid in pids:
        for fd in Path(f"/proc/{pid}/fd").iterdir():
            try:
                target = os.readlink(fd)
            except OSError:
                continue
            if target.startswith("socket:["):
                owner[target[8:-1]] = pid
    counts: dict[int, int] = {}
    for line in Path("/proc/net/tcp").read_text().splitlines()[1:]:
        fields = line.split()
        local, state, inode = fields[1], fields[3], fields[9]
        if state == "01" and int(local.split(":")[1], 16) == port and inode in owner:
            counts[owner[inode]] = counts.get(owner[inode], 0) + 1
    return counts


def multiprocess_dir_of(pid: int) -> Path:
    environ = Path(f"/proc/{pid}/environ").read_bytes().split(b"\0")
    value = next(e for e in environ if e.startswith(b"PROMETHEUS_MULTIPROC_DIR="))
    return Path(value.split(b"=", 1)[1].decode())


def load_on_both_workers(
    server: ApiServer, request: dict[str, Any], pids: set[int], hammers: list[Hammer]
) -> None:
    """Start load threads one by one until both workers hold some of their connections."""
    for _ in range(MAX_THREADS):
        hammer = Hammer(server.base_url, request)
        hammer.start()
        hammers.append(hammer)
        wait_until(lambda: len(hammers[-1].results) >= 2)  # its connection is open and used
        held = connections_by_worker(pids, server.port)
        if len(hammers) >= MIN_THREADS and set(held) == pids:
            return


def test_two_workers_share_load_swap_together_and_merge_metrics() -> None:
    with fresh_database() as url:
        with pipeline_env(url):
            collect_rows()
            first = train_model()
            second = train_model()  # a candidate: the first stays active until promoted
        request = real_requests(url, active_predictor(url).schema, 1)[0]
        env = {"WEB_CONCURRENCY": "2", "LOG_LEVEL": "WARNING"}
        # The test's own client closes its connection after each call: only the load
        # threads' keep-alive connections are left for connections_by_worker to count.
        with (
            running_server(url, via_cli=True, **env) as server,
            server.client(headers={"Connection": "close"}) as client,
        ):
            assert server.process is not None

            def both_workers_loaded() -> dict[int, str] | None:
                served = worker_versions(client.get("/metrics").text)
                return served if len(served) == 2 else None

            served = wait_until(both_workers_loaded)
            pids = set(served)
            assert served == {pid: first for pid in pids}
            assert pids <= children(server.process.pid), "the pids are not the server's workers"
            shared_dir = multiprocess_dir_of(min(pids))
            assert {f"counter_{pid}.db" for pid in pids} <= {p.name for p in shared_dir.iterdir()}

            hammers: list[Hammer] = []
            try:
                load_on_both_workers(server, request, pids, hammers)
                held = connections_by_worker(pids, server.port)
                assert set(held) == pids, f"one worker held every connection: {held}"
                with pipeline_env(url):
                    activate(model_version=second)
                wait_until(
                    lambda: (
                        worker_versions(client.get("/metrics").text)
                        == {pid: second for pid in pids}
                    )
                )
                marks = [len(h.results) for h in hammers]
                wait_until(
                    lambda: all(
                        len(h.results) >= m + 5 for h, m in zip(hammers, marks, strict=True)
                    )
                )
            finally:
                for hammer in hammers:
                    hammer.stop.set()
                for hammer in hammers:
                    hammer.join(30)

            assert not [e for h in hammers for e in h.errors], [h.errors[:2] for h in hammers]
            assert {status for h in hammers for status, _ in h.results} == {200}
            assert {v for h in hammers for v in h.versions_seen()} == {first, second}
            for hammer, mark in zip(hammers, marks, strict=True):
                # The request in flight when both workers reported the swap may be older.
                assert set(hammer.versions_seen()[mark + 1 :]) == {second}
            answered = sum(len(h.results) for h in hammers)
            logger.info(
                "%d threads, %d answered (%d by the first model), connections per worker %s",
                len(hammers),
                answered,
                sum(v == first for h in hammers for v in h.versions_seen()),
                held,
            )

            def merged() -> str | None:
                text = client.get("/metrics").text
                predictions = metric_value(text, 'predictions_total{prediction="0"}')
                predictions += metric_value(text, 'predictions_total{prediction="1"}')
                return text if predictions == answered else None

            text = wait_until(merged)  # the last responses' counters land just after them
            sample = 'http_requests_total{endpoint="/predict",method="POST",status="200"}'
            assert metric_value(text, sample) == answered
            assert set(worker_versions(text)) == pids, "a worker was replaced during the test"

            assert server.stop() == 0
            assert not shared_dir.exists(), "serve left its multiprocess directory behind"

        with session_scope(get_engine(url)) as session:
            logged = session.scalar(select(func.count()).select_from(Prediction))
        assert logged == answered
