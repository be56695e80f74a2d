"""Airflow on the CeleryExecutor without Docker: one process per component, N workers.

Redis (``CELERY_BROKER_URL``, default ``redis://127.0.0.1:6379/0``) is the broker; the
Airflow metadata database is also Celery's result backend.  Each stack sends its tasks to a
queue of its own (``smoke_<random>``), so two stacks on one Redis never take each other's
tasks.  Every worker runs one task at a time (``-c 1``) and names itself ``worker-N``
through ``[core] hostname_callable``, so a task instance's ``hostname`` in the REST API says
which worker ran it; its PostgreSQL sessions carry the name as ``application_name``.  The
scheduler declares a task instance lost after ``HEARTBEAT_TIMEOUT_S`` without a heartbeat
(Airflow's default is 300 s), then retries it.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import time
import uuid
from pathlib import Path

from airflow_harness import SmokeFailure, airflow_env, free_port, step
from process_groups import ProcessGroups
from sqlalchemy.engine import make_url

HEARTBEAT_TIMEOUT_S = 30
HOSTNAME_MODULE = '''"""[core] hostname_callable of the Celery smoke stack: the worker's name."""
import os


def hostname() -> str:
    return os.environ.get("SMOKE_WORKER_NAME", "main")
'''


class CeleryStack:
    """api-server, scheduler, dag-processor and ``airflow celery worker`` processes."""

    def __init__(
        self, home: Path, port: int, metadata_url: str, project_url: str, extra: dict[str, str]
    ) -> None:
        self.home = home
        self.groups = ProcessGroups(home)
        self.queue = f"smoke_{uuid.uuid4().hex[:8]}"
        (home / "smoke_hostname.py").write_text(HOSTNAME_MODULE)
        backend = make_url(metadata_url).set(drivername="postgresql+psycopg2")
        env = airflow_env(home, port, metadata_url, project_url) | extra
        self.env = env | {
            "AIRFLOW__CORE__EXECUTOR": "CeleryExecutor",
            "AIRFLOW__CORE__PARALLELISM": "8",
            "AIRFLOW__CORE__HOSTNAME_CALLABLE": "smoke_hostname.hostname",
            "AIRFLOW__CELERY__BROKER_URL": os.environ.get(
                "CELERY_BROKER_URL", "redis://127.0.0.1:6379/0"
            ),
            "AIRFLOW__CELERY__RESULT_BACKEND": "db+"
            + backend.render_as_string(hide_password=False),
            "AIRFLOW__CELERY__WORKER_CONCURRENCY": "1",
            "AIRFLOW__OPERATORS__DEFAULT_QUEUE": self.queue,
            "AIRFLOW__SCHEDULER__TASK_INSTANCE_HEARTBEAT_TIMEOUT": str(HEARTBEAT_TIMEOUT_S),
            "AIRFLOW__SCHEDULER__TASK_INSTANCE_HEARTBEAT_TIMEOUT_DETECTION_INTERVAL": "5",
            "PYTHONPATH": os.pathsep.join([str(home), env["PYTHONPATH"]]),
        }
        airflow = shutil.which("airflow", path=self.env["PATH"])
        if not airflow:
            raise SmokeFailure("`airflow` is not on PATH: pip install -e '.[dev]' into .venv")
        self.airflow = airflow

    def migrate(self) -> subprocess.Popen[bytes]:
        """``airflow db migrate`` in the background; :meth:`start` waits for it."""
        return self.groups.start("db-migrate", [self.airflow, "db", "migrate"], self.env)

    def start(self) -> None:
        migrate = self.groups.procs["db-migrate"]
        started = time.monotonic()
        if migrate.wait(timeout=600) != 0:
            raise SmokeFailure(f"airflow db migrate failed:\n{self.groups.tail('db-migrate')}")
        step("airflow db migrate done (waited %.0f s)", time.monotonic() - started)
        del self.groups.procs["db-migrate"]
        for component in ("api-server", "scheduler", "dag-processor"):
            self.groups.start(component, [self.airflow, component], self.env)

    def start_worker(self, number: int) -> str:
        name = f"worker-{number}"
        env = self.env | {
            "SMOKE_WORKER_NAME": name,
            "PGAPPNAME": name,  # libpq: its PostgreSQL sessions show up under this name
            "AIRFLOW__LOGGING__WORKER_LOG_SERVER_PORT": str(free_port()),
        }
        argv = [self.airflow, "celery", "worker", "--celery-hostname", f"{name}@%h"]
        argv += ["--concurrency", "1", "--queues", self.queue, "--without-gossip"]
        self.groups.start(name, argv, env)
        return name

    def check_alive(self) -> None:
        self.groups.check_alive()

    def workers(self) -> list[str]:
        return [n for n in self.groups.procs if n.startswith("worker-")]

    def stop(self) -> None:
        self.groups.stop()
