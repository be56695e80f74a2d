"""ServiceMetrics in Prometheus multiprocess mode, with real worker processes.

prometheus_client picks multiprocess mode when it is imported, so the "workers" are separate
Python processes started with ``PROMETHEUS_MULTIPROC_DIR`` set; this process reads their files
through a ServiceMetrics of its own, exactly as the worker answering a scrape does.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from src.api.metrics import ServiceMetrics
from src.api.multiprocess import ENV_VAR

pytestmark = pytest.mark.slow

REPO = Path(__file__).resolve().parents[3]
WORKER = """
import sys
from src.api.metrics import ServiceMetrics

metrics = ServiceMetrics()
stats = {"depth": 3, "written": 10, "dropped_overflow": 1}
publish = metrics.watch_log(lambda: stats)
metrics.set_model("v1")
metrics.set_model(sys.argv[1])  # a hot swap
metrics.count_predictions([1, 0, 0])
metrics.observe_request("/predict", "POST", 200, 0.01)
publish()
stats["written"] = 12
publish()  # counters grow by the increase only
print("ready", flush=True)
sys.stdin.readline()
metrics.worker_stopping()
"""


@pytest.fixture
def workers(tmp_path: Path) -> Iterator[list[subprocess.Popen[str]]]:
    env = {**os.environ, ENV_VAR: str(tmp_path), "PYTHONPATH": str(REPO)}
    procs = [
        subprocess.Popen(
            [sys.executable, "-c", WORKER, version],
            cwd=REPO,
            env=env,
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            text=True,
        )
        for version in ("v2", "v3")
    ]
    try:
        for proc in procs:
            assert proc.stdout is not None and proc.stdout.readline().strip() == "ready"
        yield procs
    finally:
        for proc in procs:
            proc.kill()
            proc.wait(10)


def sample(text: str, name: str) -> float | None:
    for line in text.splitlines():
        if line.startswith(name + " "):
            return float(line.rsplit(" ", 1)[1])
    return None


def test_scrape_merges_workers_and_forgets_exited_ones(
    workers: list[subprocess.Popen[str]], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv(ENV_VAR, str(tmp_path))
    reader = ServiceMetrics()  # the worker answering the scrape
    first, second = workers
    text = reader.latest().decode()
    assert sample(text, 'predictions_total{prediction="0"}') == 4
    assert sample(text, 'predictions_total{prediction="1"}') == 2
    requests = 'http_requests_total{endpoint="/predict",method="POST",status="200"}'
    assert sample(text, requests) == 2
    assert sample(text, "prediction_log_written_total") == 24
    assert sample(text, 'prediction_log_dropped_total{reason="overflow"}') == 2
    assert sample(text, "prediction_log_buffer_depth") == 6  # livesum
    assert sample(text, "model_ready") == 1  # livemin
    for proc, version in ((first, "v2"), (second, "v3")):
        # liveall: one series per worker (a pid label); the swapped-out version reads 0
        assert sample(text, f'model_loaded_info{{pid="{proc.pid}",version="{version}"}}') == 1
        assert sample(text, f'model_loaded_info{{pid="{proc.pid}",version="v1"}}') == 0

    assert first.stdin is not None
    first.stdin.write("\n")
    first.stdin.close()
    assert first.wait(10) == 0  # a clean exit marks itself dead
    text = reader.latest().decode()
    assert f'pid="{first.pid}"' not in text
    assert f'pid="{second.pid}"' in text
    assert sample(text, requests) == 2  # an exited worker's requests still count
    assert sample(text, "prediction_log_buffer_depth") == 3

    second.send_signal(signal.SIGKILL)  # no shutdown: its live gauges stay behind ...
    second.wait(10)
    assert f'pid="{second.pid}"' in reader.latest().decode()
    reader.worker_started()  # ... until a (replacement) worker starts and sweeps them
    text = reader.latest().decode()
    assert "model_loaded_info{" not in text
    assert sample(text, requests) == 2
