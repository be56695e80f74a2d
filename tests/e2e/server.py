"""Run the real service as ``uvicorn src.api.main:app`` in a subprocess on 127.0.0.1.

Reusable by any test (and the benchmark) that needs the service over real HTTP: it picks a
free port, passes settings through the environment, waits for ``/health`` and stops the
process with SIGTERM (so the lifespan shutdown, including the final log flush, runs).
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import httpx

from tests.e2e.pg_cluster import free_port

REPO_ROOT = Path(__file__).resolve().parents[2]
ADMIN_KEY = "e2e-admin-key"
SERVER_ENV = {
    "MODEL_POLL_INTERVAL_SECONDS": "0.5",
    "ADMIN_API_KEY": ADMIN_KEY,
    "PREDICTION_LOG_FLUSH_SECONDS": "0.2",
    "TORCH_NUM_THREADS": "1",
    "LOG_LEVEL": "INFO",
}


class ApiServer:
    def __init__(
        self, *, database_url: str, env: Mapping[str, str] | None = None, via_cli: bool = False
    ) -> None:
        self.via_cli = via_cli  # `loan-default serve` (settings' uvicorn limits) vs bare uvicorn
        self.port = free_port()
        self.base_url = f"http://127.0.0.1:{self.port}"
        env = dict(env or {})
        self._env = {**os.environ, **SERVER_ENV, **env, "DATABASE_URL": database_url}
        if "PREDICT_API_KEY" not in env:  # an inherited key would lock the tests out
            self._env.pop("PREDICT_API_KEY", None)
        self._log = tempfile.NamedTemporaryFile(  # noqa: SIM115 - closed in stop()
            prefix="uvicorn-e2e-", suffix=".log", delete=False
        )
        self.process: subprocess.Popen[bytes] | None = None

    def start(self, *, timeout: float = 180.0) -> None:
        """Start uvicorn; a generous timeout: importing torch on a loaded 2-core box is slow."""
        cli = [sys.executable, "-m", "src.cli", "serve", "--host", "127.0.0.1", "--port"]
        command = (
            [*cli, str(self.port)]
            if self.via_cli
            else [
                sys.executable,
                "-m",
                "uvicorn",
                "src.api.main:app",
                "--host",
                "127.0.0.1",
                "--port",
                str(self.port),
                "--log-level",
                "warning",
                "--no-access-log",
            ]
        )
        self.process = subprocess.Popen(
            command, cwd=REPO_ROOT, env=self._env, stdout=self._log, stderr=subprocess.STDOUT
        )
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise RuntimeError(
                    f"uvicorn exited with {self.process.returncode}:\n{self.log_text()}"
                )
            try:
                if httpx.get(f"{self.base_url}/health", timeout=1).status_code == 200:
                    return
            except httpx.TransportError:
                pass
            time.sleep(0.1)
        log = self.log_text()  # before stop() closes the log file
        self.stop()
        raise RuntimeError(f"uvicorn did not answer /health within {timeout}s:\n{log}")

    def stop(self, *, timeout: float = 20.0) -> int | None:
        """SIGTERM (graceful: lifespan shutdown flushes the prediction log), then SIGKILL."""
        code = None
        if self.process is not None and self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
            try:
                code = self.process.wait(timeout)
            except subprocess.TimeoutExpired:
                self.process.kill()
                code = self.process.wait()
        self._log.close()
        return code

    def log_text(self) -> str:
        if not self._log.closed:
            self._log.flush()
        return Path(self._log.name).read_text(errors="replace")[-8000:]

    def client(self, **kwargs: Any) -> httpx.Client:
        return httpx.Client(base_url=self.base_url, timeout=30, **kwargs)


@contextmanager
def running_server(database_url: str, *, via_cli: bool = False, **env: str) -> Iterator[ApiServer]:
    server = ApiServer(database_url=database_url, env=env, via_cli=via_cli)
    server.start()
    try:
        yield server
    finally:
        server.stop()
        Path(server._log.name).unlink(missing_ok=True)


# How long a test waits for something that must *eventually* happen.  Generous on purpose: a
# test proves behaviour, not speed (a loaded 2-core machine can stall a poll for seconds);
# latencies are measured and printed by bench/ scripts instead.
PATIENCE = 60.0


def wait_until(
    condition: Callable[[], Any], *, timeout: float = PATIENCE, interval: float = 0.05
) -> Any:
    """Poll ``condition`` until it returns something truthy; return it (or fail)."""
    deadline = time.monotonic() + timeout
    while True:
        value = condition()
        if value:
            return value
        if time.monotonic() > deadline:
            raise AssertionError(f"condition not met within {timeout}s")
        time.sleep(interval)
