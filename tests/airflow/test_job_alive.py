"""scripts/airflow_job_alive.py (the compose healthcheck of the dag-processor and triggerer)
against a real, migrated Airflow metadata database: Airflow's own ``job`` table."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest
from sqlalchemy import create_engine, text
from sqlalchemy.engine import Engine

SCRIPT = Path(__file__).resolve().parents[2] / "scripts" / "airflow_job_alive.py"
JOB = "TriggererJob"


@pytest.fixture
def metadata(airflow_env: dict[str, str]) -> Iterator[tuple[Engine, dict[str, str]]]:
    engine = create_engine(airflow_env["AIRFLOW__DATABASE__SQL_ALCHEMY_CONN"])
    with engine.begin() as conn:
        conn.execute(text("DELETE FROM job WHERE job_type = :t"), {"t": JOB})
    yield engine, airflow_env
    with engine.begin() as conn:
        conn.execute(text("DELETE FROM job WHERE job_type = :t"), {"t": JOB})
    engine.dispose()


def _job(engine: Engine, *, hostname: str, state: str, age_s: float) -> None:
    with engine.begin() as conn:
        conn.execute(
            text(
                "INSERT INTO job (job_type, hostname, state, start_date, latest_heartbeat)"
                " VALUES (:t, :h, :s, now() - interval '1 hour',"
                " now() - make_interval(secs => :age))"
            ),
            {"t": JOB, "h": hostname, "s": state, "age": age_s},
        )


def _check(env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, str(SCRIPT), JOB, "--max-age", "120"],
        env={**os.environ, **env},
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )


def test_alive_only_with_a_recent_heartbeat_of_a_running_job_on_this_host(
    metadata: tuple[Engine, dict[str, str]],
) -> None:
    engine, env = metadata
    here = socket.getfqdn()

    missing = _check(env)
    assert missing.returncode == 1
    assert f"no running {JOB} on {here}" in missing.stderr

    _job(engine, hostname=here, state="running", age_s=600)  # stalled ten minutes ago
    _job(engine, hostname="another-host", state="running", age_s=1)  # alive elsewhere
    _job(engine, hostname=here, state="success", age_s=1)  # ended
    assert _check(env).returncode == 1

    _job(engine, hostname=here, state="running", age_s=5)
    alive = _check(env)
    assert alive.returncode == 0, alive.stderr
