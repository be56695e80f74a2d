"""Fixtures that run Airflow 3 for real, each session with its own metadata database.

Airflow reads its configuration when it is first imported and then keeps global state
(ORM, logging, ``sys.path``), so the pytest process never imports it: every Airflow action
runs in a child process (``tests/airflow/dag_runner.py`` or the ``airflow`` CLI) with the
environment built here.  The metadata database is a fresh PostgreSQL database per session
(dropped afterwards) and ``AIRFLOW_HOME`` is a temporary folder; the project database is
the ``db_url`` fixture's, passed through ``DATABASE_URL``.
"""

from __future__ import annotations

import json
import logging
import os
import subprocess
import sys
import time
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import create_engine, text
from sqlalchemy.engine import make_url

from config.settings import get_settings
from tests.conftest import ADMIN_URL

logger = logging.getLogger(__name__)

REPO_ROOT = Path(__file__).resolve().parents[2]
DAGS_FOLDER = REPO_ROOT / "airflow" / "dags"
DAG_IDS = {
    "batch_scoring",
    "data_collection",
    "model_training",
    "model_validation_deployment",
    "outcome_collection",
}

# Tiny model settings so a full model_training run takes seconds on 2 cores.
TINY_TRAINING_ENV = {
    "NUM_LAYERS": "1",
    "PRETRAIN_EPOCHS": "1",
    "FINETUNE_EPOCHS": "2",
    "PATIENCE": "2",
    "BATCH_SIZE": "256",
    "INGEST_BATCH_SIZE": "1500",
    "DATA_SOURCE": "lending_club",
}


@pytest.fixture(scope="session")
def airflow_env(tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict[str, str]]:
    """Environment for Airflow child processes: temp AIRFLOW_HOME, fresh migrated metadata DB."""
    home = tmp_path_factory.mktemp("airflow_home")
    name = f"airflow_test_{uuid.uuid4().hex[:10]}"
    admin = create_engine(ADMIN_URL, isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        conn.execute(text(f'CREATE DATABASE "{name}"'))
    # psycopg 3 for both engines: Airflow would otherwise derive an asyncpg URL for its
    # async engine, and asyncpg is not a dependency of this project.
    url = (
        make_url(ADMIN_URL)
        .set(drivername="postgresql+psycopg", database=name)
        .render_as_string(hide_password=False)
    )
    env = {
        "AIRFLOW_HOME": str(home),
        "AIRFLOW__CORE__DAGS_FOLDER": str(DAGS_FOLDER),
        "AIRFLOW__CORE__LOAD_EXAMPLES": "False",
        "AIRFLOW__CORE__PARALLELISM": "2",
        "AIRFLOW__DATABASE__SQL_ALCHEMY_CONN": url,
        "AIRFLOW__DATABASE__SQL_ALCHEMY_CONN_ASYNC": url,
        "AIRFLOW__LOGGING__LOGGING_LEVEL": "INFO",
        # The project need not be pip-installed for the tasks to import src and config.
        "PYTHONPATH": os.pathsep.join(
            p for p in (str(REPO_ROOT), os.environ.get("PYTHONPATH", "")) if p
        ),
        "PYTHONUNBUFFERED": "1",
        "MODEL_PATH": str(home / "models"),  # model_training's report task writes here
    }
    try:
        _run([sys.executable, "-m", "airflow", "db", "migrate"], env=env, timeout=180)
        yield env
    finally:
        with admin.connect() as conn:
            conn.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        admin.dispose()


def _run(
    cmd: list[str], *, env: dict[str, str], timeout: float
) -> subprocess.CompletedProcess[str]:
    child_env = {k: v for k, v in os.environ.items() if k != "AIRFLOW_CONFIG"} | env
    proc = subprocess.run(
        cmd,
        env=child_env,
        cwd=REPO_ROOT,
        capture_output=True,
        text=True,
        timeout=timeout,
        check=False,
    )
    if proc.returncode != 0:
        pytest.fail(
            f"{' '.join(cmd[:6])} exited {proc.returncode}\n"
            f"--- stdout (tail) ---\n{proc.stdout[-6000:]}\n"
            f"--- stderr (tail) ---\n{proc.stderr[-6000:]}",
            pytrace=False,
        )
    return proc


@pytest.fixture
def run_airflow(airflow_env: dict[str, str], tmp_path: Path) -> Callable[..., dict[str, Any]]:
    """``run_airflow(*args)`` runs ``python -m tests.airflow.dag_runner`` and returns its JSON.

    The child inherits ``os.environ`` at call time, so ``DATABASE_URL`` from ``db_url`` and
    any ``monkeypatch.setenv`` reach the DAG's tasks.
    """
    counter = iter(range(1_000_000))

    def run(*args: str, timeout: float = 300) -> dict[str, Any]:
        out = tmp_path / f"result_{next(counter)}.json"
        cmd = [sys.executable, "-m", "tests.airflow.dag_runner", *args, "--out", str(out)]
        started = time.monotonic()
        proc = _run(cmd, env=airflow_env, timeout=timeout)
        result: dict[str, Any] = json.loads(out.read_text())
        logger.info(
            "%s: %s in %.1f s (dag.test %s s)",
            " ".join(args[:2]),
            result.get("state", "-"),
            time.monotonic() - started,
            result.get("dag_test_seconds", "-"),
        )
        if result.get("state", "success") != "success":
            # The task logs, so that a failed assertion on the state shows the cause.
            result["output_tail"] = (proc.stdout + proc.stderr)[-8000:]
        return result

    return run


@pytest.fixture
def tiny_training_env(monkeypatch: pytest.MonkeyPatch) -> Iterator[dict[str, str]]:
    """Tiny model settings for the Airflow child processes (and in-process setup calls)."""
    for key, value in TINY_TRAINING_ENV.items():
        monkeypatch.setenv(key, value)
    get_settings.cache_clear()
    yield TINY_TRAINING_ENV
    get_settings.cache_clear()
