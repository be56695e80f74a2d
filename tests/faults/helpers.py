"""Shared by ``tests/faults`` and ``tests/fuzz``: one trained database per session, cloned per test.

Training even a quick model costs seconds, and most reliability tests only need *a* trained,
active model plus the lending_club rows it was trained on.  So the session trains once into a
template database (with the ``tests/e2e`` helpers) and every test that changes the registry
works on its own ``CREATE DATABASE ... TEMPLATE`` copy, which PostgreSQL makes in well under
a second.  Nothing here mocks anything: these are real databases on the shared server.
"""

from __future__ import annotations

import os
import subprocess
import sys
import time
import uuid
from collections.abc import Callable, Iterator, Mapping
from contextlib import ExitStack, contextmanager
from typing import Any

import pytest
from sqlalchemy import Engine, create_engine, select, text
from sqlalchemy.engine import make_url
from sqlalchemy.exc import OperationalError

from src.data.database import dispose_engines, get_engine, session_scope
from src.data.tables import ModelMetadata
from tests.conftest import ADMIN_URL
from tests.e2e.helpers import (
    FAST_TRAINING_ENV,
    collect_rows,
    fresh_database,
    pipeline_env,
    train_model,
)
from tests.e2e.server import REPO_ROOT

_TEMPLATE: dict[str, str] = {}

# Copied from a registry row when a test needs another (verified, loadable) model version.
_MODEL_COPY_SKIP = {"id", "model_version", "is_active", "status", "status_reason", "activated_at"}


def trained_template(config: pytest.Config) -> str:
    """URL of a database with lending_club collected and one quick model (v0001) active.

    Created on first use in the session and dropped when the session ends; never handed to
    a test to modify: clone it with :func:`cloned_database`.
    """
    if "url" not in _TEMPLATE:
        stack = ExitStack()
        url = stack.enter_context(fresh_database())
        config.add_cleanup(stack.close)
        with pipeline_env(url):
            collect_rows()
            train_model()
        dispose_engines()  # CREATE DATABASE ... TEMPLATE needs it without connections
        _TEMPLATE["url"] = url
    return _TEMPLATE["url"]


@contextmanager
def cloned_database(template_url: str) -> Iterator[str]:
    """A private copy of ``template_url`` (dropped afterwards)."""
    template = make_url(template_url).database
    name = f"loan_fault_{uuid.uuid4().hex[:10]}"
    admin = create_engine(ADMIN_URL, isolation_level="AUTOCOMMIT")
    try:
        _create_from_template(admin, name, template)
        url = make_url(ADMIN_URL).set(database=name).render_as_string(hide_password=False)
        try:
            yield url
        finally:
            get_engine(url).dispose()
            dispose_engines()
            with admin.connect() as conn:
                conn.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
    finally:
        admin.dispose()


def _create_from_template(admin: Engine, name: str, template: str | None) -> None:
    """CREATE DATABASE ... TEMPLATE; PostgreSQL refuses while anything is connected to it."""
    dispose_engines()  # this process's pooled connections (e.g. rows read from the template)
    deadline = time.monotonic() + 60  # bounded, generously: a loaded machine closes slowly
    while True:
        try:
            with admin.connect() as conn:
                conn.execute(text(f'CREATE DATABASE "{name}" TEMPLATE "{template}"'))
            return
        except OperationalError as exc:
            busy = "is being accessed by other users" in str(exc)
            if not busy or time.monotonic() > deadline:
                raise
            time.sleep(0.25)


def copy_model(
    source_url: str, target_url: str, *, version: str, new_version: str, status: str = "candidate"
) -> None:
    """Register a copy of ``version`` (same verified artifact) as ``new_version``, not active."""
    with session_scope(get_engine(source_url)) as session:
        row = session.scalars(
            select(ModelMetadata).where(ModelMetadata.model_version == version)
        ).one()
        values = {
            c.name: getattr(row, c.name)
            for c in ModelMetadata.__table__.columns
            if c.name not in _MODEL_COPY_SKIP
        }
        values["artifact"] = row.artifact
    with session_scope(get_engine(target_url)) as session:
        session.add(
            ModelMetadata(
                **values,
                model_version=new_version,
                is_active=False,
                status=status,
                status_reason="copied by a fault test",
            )
        )


def registry(database_url: str) -> list[dict[str, Any]]:
    """Every registry row (no artifact bytes), oldest first."""
    with session_scope(get_engine(database_url)) as session:
        rows = session.execute(
            select(
                ModelMetadata.model_version,
                ModelMetadata.status,
                ModelMetadata.is_active,
                ModelMetadata.artifact_sha256,
                ModelMetadata.training_run_id,
            ).order_by(ModelMetadata.id)
        ).all()
    return [row._asdict() for row in rows]


def cli_env(database_url: str, **extra: str) -> dict[str, str]:
    """Environment for a ``loan-default`` subprocess: quick training, one torch thread."""
    env = {**os.environ, **FAST_TRAINING_ENV, "DATABASE_URL": database_url, **extra}
    for key in ("PREDICT_API_KEY", "ADMIN_API_KEY"):  # never inherit keys from the shell
        env.pop(key, None)
    return env


def cli_command(*args: str) -> list[str]:
    """``loan-default ARGS`` as a command (the module form of the console script)."""
    return [sys.executable, "-m", "src.cli", *args]


def run_cli(
    database_url: str, *args: str, env: Mapping[str, str] | None = None, timeout: float = 180
) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        cli_command(*args),
        cwd=REPO_ROOT,
        env=dict(env) if env is not None else cli_env(database_url),
        capture_output=True,
        text=True,
        timeout=timeout,
        check=False,
    )


def kill_when(
    process: subprocess.Popen[Any],
    condition: Callable[[], Any],
    *,
    timeout: float,
    interval: float = 0.02,
) -> Any:
    """SIGKILL ``process`` as soon as ``condition()`` is truthy; return that value.

    Fails if the process ends by itself first (then the fault was never injected).
    """
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = condition()
        if value:
            process.kill()
            process.wait(30)
            return value
        if process.poll() is not None:
            output = process.stdout.read() if process.stdout else ""
            raise AssertionError(
                f"process ended (rc {process.returncode}) before the kill point:\n{output}"
            )
        time.sleep(interval)
    process.kill()
    process.wait(30)
    raise AssertionError(f"kill point not reached within {timeout}s")
