"""Four ``loan-default activate`` processes at the same instant: one active model, all audited.

Threads in one process share an engine and its pool; separate processes are what really
happens when an operator and two Airflow tasks promote at once.  Each process imports
everything first and says so; then all are given one start time, so the activations overlap.
"""

from __future__ import annotations

import subprocess
import sys
import time

import pytest
from sqlalchemy import select

from src.data.database import get_engine, session_scope
from src.data.tables import ModelEvent, ModelMetadata
from tests.e2e.server import REPO_ROOT
from tests.faults.helpers import cli_env, copy_model

pytestmark = [pytest.mark.integration, pytest.mark.slow]

CANDIDATES = ["v0002", "v0003", "v0004", "v0005"]
# `loan-default activate VERSION` at a start time read from stdin (a barrier across processes).
ACTIVATE_AT = """
import sys, time
import src.cli, src.pipeline.deployment, src.pipeline.serving  # pay the imports before the barrier
version = sys.argv[1]
print("ready", flush=True)
start = float(sys.stdin.readline())
time.sleep(max(0.0, start - time.time()))
print(f"started {version} at {time.time():.4f}", flush=True)
sys.exit(src.cli.main(["activate", version]))
"""


def test_simultaneous_activations_from_processes(trained_db: str) -> None:
    for version in CANDIDATES:
        copy_model(trained_db, trained_db, version="v0001", new_version=version)
    with session_scope(get_engine(trained_db)) as session:
        first_event = session.scalar(select(ModelEvent.id).order_by(ModelEvent.id.desc())) or 0

    processes = {
        version: subprocess.Popen(
            [sys.executable, "-c", ACTIVATE_AT, version],
            cwd=REPO_ROOT,
            env=cli_env(trained_db),
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
        )
        for version in CANDIDATES
    }
    for process in processes.values():  # bounded: each prints "ready" or exits
        assert process.stdout is not None and process.stdout.readline() == "ready\n"
    start = f"{time.time() + 0.5}\n"
    for process in processes.values():
        assert process.stdin is not None
        process.stdin.write(start)
        process.stdin.flush()
    outputs = {v: p.communicate(timeout=120)[0] for v, p in processes.items()}
    started = {
        v: float(line.split(" at ")[1])
        for v, out in outputs.items()
        for line in out.splitlines()
        if line.startswith("started ")
    }
    assert set(started) == set(CANDIDATES), outputs  # nobody missed the barrier
    assert max(started.values()) - min(started.values()) < 1.0, started
    codes = {v: p.returncode for v, p in processes.items()}
    assert set(codes.values()) <= {0, 2}, outputs  # success, or one clean error line

    with session_scope(get_engine(trained_db)) as session:
        models = {
            m.model_version: (m.is_active, m.status) for m in session.scalars(select(ModelMetadata))
        }
        attempts = session.execute(
            select(ModelEvent.id, ModelEvent.event, ModelEvent.model_version, ModelEvent.success)
            .where(ModelEvent.id > first_event)
            .order_by(ModelEvent.id)
        ).all()

    active = [v for v, (is_active, _) in models.items() if is_active]
    spread = max(started.values()) - min(started.values())
    print(
        f"started within {spread * 1000:.0f} ms; audit log: {[(e, v) for _, e, v, _ in attempts]}"
    )
    assert len(active) == 1, models
    # Every attempt is in the audit log exactly once, as promoted or promotion_failed ...
    by_version = {v: [e for _, e, ver, _ in attempts if ver == v] for v in CANDIDATES}
    for version, logged in by_version.items():
        assert len(logged) == 1 and logged[0] in {"promoted", "promotion_failed"}, attempts
        assert (logged[0] == "promoted") == (codes[version] == 0), (version, outputs[version])
    # ... the last promotion is the active model, and every other promoted one was retired.
    promoted = [ver for _, e, ver, _ in attempts if e == "promoted"]
    assert promoted and active == [promoted[-1]]
    for version in ("v0001", *promoted[:-1]):
        assert models[version] == (False, "retired"), models
    for version in set(CANDIDATES) - set(promoted):
        assert models[version] == (False, "candidate"), models
