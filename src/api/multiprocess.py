"""Prometheus' multiprocess mode: one ``/metrics`` for several uvicorn workers.

``loan-default serve --workers N`` (or ``WEB_CONCURRENCY``) runs N processes behind one
socket, and a scrape lands on whichever worker accepts it.  With in-memory metrics each
scrape would show one worker's share of the traffic, and counters would jump up and down
between scrapes.  In multiprocess mode every process writes its samples to mmap files in
``PROMETHEUS_MULTIPROC_DIR`` and the worker that answers a scrape merges all of them
(``prometheus_client.multiprocess.MultiProcessCollector``).

prometheus_client decides the mode from the environment variable when it is first imported,
so the directory must exist and be exported before any worker starts: :func:`multiprocess_metrics`
does that in ``loan-default serve`` (the parent process); uvicorn's workers are spawned and
inherit it.  Files of a previous run must not be merged into this one (counters would start
from the old totals), so the directory is emptied first.
"""

from __future__ import annotations

import logging
import os
import re
import shutil
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

ENV_VAR = "PROMETHEUS_MULTIPROC_DIR"
_LIVE_GAUGE_FILE = re.compile(r"^gauge_live[a-z]+_(\d+)\.db$")

logger = logging.getLogger(__name__)


def multiprocess_dir() -> Path | None:
    """The directory the metrics are shared through, or None (single-process mode)."""
    value = os.environ.get(ENV_VAR, "").strip()
    return Path(value) if value else None


@contextmanager
def multiprocess_metrics(*, workers: int) -> Iterator[Path | None]:
    """Export a fresh, empty ``PROMETHEUS_MULTIPROC_DIR`` for the workers about to start.

    A directory the user set is created if needed and emptied of metric files (``*.db``,
    nothing else: it may be a shared path).  Several workers and no directory: a private
    temporary one is created, exported, and removed again when the server stops.  One worker
    and no directory: nothing changes (plain in-memory metrics, exactly as before).
    """
    configured = multiprocess_dir()
    if configured is not None:
        configured.mkdir(parents=True, exist_ok=True)
        stale = list(configured.glob("*.db"))
        for path in stale:
            path.unlink(missing_ok=True)
        logger.info(
            "metrics of all workers shared through %s (%d stale files removed)",
            configured,
            len(stale),
        )
        yield configured
        return
    if workers <= 1:
        yield None
        return
    created = Path(tempfile.mkdtemp(prefix="loan-default-metrics-"))
    os.environ[ENV_VAR] = str(created)
    logger.info("metrics of %d workers shared through %s", workers, created)
    try:
        yield created
    finally:
        os.environ.pop(ENV_VAR, None)
        shutil.rmtree(created, ignore_errors=True)


def forget_dead_workers(path: Path) -> list[int]:
    """Remove the live-gauge files of processes that no longer run; their pids.

    A worker that exits cleanly marks itself dead (:func:`worker_exited`), but one that was
    killed never reaches its shutdown.  uvicorn starts a replacement at once, and the
    replacement calls this on startup, so the dead worker's ``model_ready`` or
    ``model_loaded_info`` series do not linger.  Counters and histograms of dead workers are
    kept on purpose: the totals must not go down when a worker is replaced.
    """
    pids: set[int] = set()
    for file in path.glob("gauge_live*.db"):
        match = _LIVE_GAUGE_FILE.match(file.name)
        if match:
            pids.add(int(match.group(1)))
    dead = sorted(pid for pid in pids if not _running(pid))
    for pid in dead:
        for file in path.glob(f"gauge_live*_{pid}.db"):
            file.unlink(missing_ok=True)  # another worker may be sweeping at the same time
    if dead:
        logger.info("metrics: dropped the live gauges of exited workers %s", dead)
    return dead


def worker_exited(path: Path) -> None:
    """Take this process's live gauges out of the merged view (it is shutting down)."""
    from prometheus_client.multiprocess import mark_process_dead

    mark_process_dead(os.getpid(), str(path))


def _running(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:  # exists, owned by someone else
        return True
    return True
