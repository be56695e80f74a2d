"""The DAG's batch scoring pieces (plan_batch, score_range, finish_batch) against PostgreSQL:
ranges that cover every row once, ranges of one run committing in parallel, and a run that is
never marked complete while a range is unscored."""

from __future__ import annotations

import itertools
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import pytest
from sqlalchemy import func, insert, select, text

from src.data.batch_tables import BatchRun, BatchScore
from src.data.database import get_engine
from src.data.tables import ProcessedData
from src.exceptions import ArtifactIntegrityError, ConfigurationError, IncompleteBatchError
from src.pipeline.batch_plan import batch_run_id, finish_batch, plan_batch, score_range
from src.pipeline.training import train
from tests.integration.pipeline.conftest import ingest

pytestmark = [pytest.mark.integration, pytest.mark.slow]

ROWS = 300


@pytest.fixture
def trained(fast_db: str) -> str:
    ingest(ROWS)
    return train(progress=False).model_version


def _status(run_id: str) -> str:
    with get_engine().connect() as conn:
        return str(conn.scalar(select(BatchRun.status).where(BatchRun.run_id == run_id)))


def _scored_keys(run_id: str) -> list[str]:
    with get_engine().connect() as conn:
        return list(conn.scalars(select(BatchScore.row_key).where(BatchScore.run_id == run_id)))


def _raw_ids() -> list[int]:
    with get_engine().connect() as conn:
        return sorted(conn.scalars(select(ProcessedData.raw_id)))


def test_ranges_cover_every_row_once_and_finish_refuses_a_gap(trained: str) -> None:
    chunks = plan_batch(source=None, model_version=None, run_id="dag-1", chunk_size=70)
    ids = _raw_ids()
    assert len(ids) == ROWS and len(chunks) == 5  # 70, 70, 70, 70, 20
    assert chunks[0]["first_raw_id"] == 1 and chunks[-1]["last_raw_id"] == ids[-1]
    for before, after in itertools.pairwise(chunks):
        assert after["first_raw_id"] == before["last_raw_id"] + 1  # contiguous: no gap
    sizes = [sum(c["first_raw_id"] <= i <= c["last_raw_id"] for i in ids) for c in chunks]
    assert sizes == [70, 70, 70, 70, 20]
    assert {c["run_id"] for c in chunks} == {"dag-1"} and _status("dag-1") == "running"
    assert _scored_keys("dag-1") == []  # planning scores nothing

    results = [score_range(**c) for c in chunks[:-1]]
    assert [(r["rows"], r["scored"], r["skipped"]) for r in results] == [(70, 70, 0)] * 4
    with pytest.raises(IncompleteBatchError, match="20 of 300 rows have no score"):
        finish_batch(run_id="dag-1")
    assert _status("dag-1") == "running"

    assert score_range(**chunks[-1])["scored"] == 20
    again = score_range(**chunks[0])  # a retried task instance adds nothing
    assert (again["scored"], again["skipped"]) == (0, 70)
    summary = finish_batch(run_id="dag-1")
    assert summary["status"] == "complete" == _status("dag-1")
    assert (summary["rows_total"], summary["rows_scored"]) == (ROWS, ROWS)
    keys = _scored_keys("dag-1")
    assert len(keys) == len(set(keys)) == ROWS
    prob = summary["probability"]
    deciles = list(prob["deciles"].values())
    assert len(deciles) == 9 and deciles == sorted(deciles)
    assert prob["min"] <= deciles[0] and deciles[-1] <= prob["max"]
    assert 0.0 <= prob["min"] <= prob["mean"] <= prob["max"] <= 1.0
    assert 0.0 <= summary["share_positive"] <= 1.0

    # A re-plan of the same run id reuses the run and its ranges; other settings are refused.
    assert plan_batch(source=None, model_version=None, run_id="dag-1", chunk_size=70) == chunks
    with pytest.raises(ConfigurationError, match="scores model"):
        plan_batch(source=None, model_version="v0999", run_id="dag-1", chunk_size=70)
    with pytest.raises(ConfigurationError, match="does not exist"):
        score_range(run_id="never-planned", first_raw_id=1, last_raw_id=10)

    # Each range loads the model through the checksum check: altered bytes write nothing.
    [later] = plan_batch(source=None, model_version=None, run_id="dag-2", chunk_size=ROWS)
    with get_engine().begin() as conn:
        conn.execute(
            text(
                "UPDATE loan_data.model_artifacts "
                "SET artifact = set_byte(artifact, 100, (get_byte(artifact, 100) + 1) % 256)"
            )
        )
    with pytest.raises(ArtifactIntegrityError):
        score_range(**later)
    assert _scored_keys("dag-2") == []


def test_two_ranges_commit_in_parallel_without_serialising(trained: str) -> None:
    """Range A is held open (its insert waits on a row this test keeps uncommitted) while
    range B of the same run scores and commits: B is not queued behind A's transaction."""
    chunks = plan_batch(source=None, model_version=None, run_id="par", chunk_size=150)
    assert len(chunks) == 2
    engine = get_engine()
    with engine.connect() as conn:
        first_key = conn.scalar(
            text(
                "SELECT r.row_key FROM loan_data.raw_data r JOIN loan_data.processed_data p "
                "ON p.raw_id = r.id WHERE p.raw_id >= :lo ORDER BY p.raw_id LIMIT 1"
            ),
            {"lo": chunks[0]["first_raw_id"]},
        )
    blocker = engine.connect()
    blocker.begin()
    blocker.execute(
        insert(BatchScore),
        {
            "run_id": "par",
            "row_key": first_key,
            "model_version": trained,
            "probability": 0.5,
            "prediction": 1,
        },
    )
    done: dict[str, Any] = {}
    b_finished = threading.Event()

    def run(name: str, chunk: dict[str, Any]) -> None:
        done[name] = score_range(**chunk)
        if name == "b":
            b_finished.set()

    with ThreadPoolExecutor(max_workers=2) as pool:
        a = pool.submit(run, "a", chunks[0])
        try:
            _wait_for_lock_wait(engine)  # A is inside its transaction, at its insert
            b = pool.submit(run, "b", chunks[1])
            assert b_finished.wait(timeout=60), "range B waited on range A's transaction"
            b.result()
            assert not a.done()  # A is still held by the uncommitted row ...
            with engine.connect() as conn:  # ... and B's scores are committed and visible
                visible = conn.scalar(
                    select(func.count()).select_from(BatchScore).where(BatchScore.run_id == "par")
                )
            assert visible == 150
        finally:
            blocker.rollback()  # A's conflicting row goes away: A inserts it itself
            blocker.close()
        a.result(timeout=120)
    assert (done["a"]["scored"], done["b"]["scored"]) == (150, 150)
    summary = finish_batch(run_id="par")
    assert summary["status"] == "complete" and summary["rows_scored"] == ROWS


def _wait_for_lock_wait(engine: Any, timeout: float = 120) -> None:
    """Until a session of this database waits on a lock (range A on the blocker's row)."""
    deadline = time.monotonic() + timeout
    query = text(
        "SELECT count(*) FROM pg_stat_activity "
        "WHERE datname = current_database() AND wait_event_type = 'Lock'"
    )
    while True:
        with engine.connect() as conn:
            if conn.scalar(query):
                return
        assert time.monotonic() < deadline, "range A never reached its insert"
        time.sleep(0.05)


def test_batch_run_id_of_a_dag_run() -> None:
    assert batch_run_id(requested="nightly", dag_run_id="manual__x") == "nightly"
    assert batch_run_id(requested=None, dag_run_id="manual__x") == "airflow-manual__x"
    long_id = "scheduled__" + "9" * 80
    derived = batch_run_id(requested=None, dag_run_id=long_id)
    assert len(derived) == 64 and derived == batch_run_id(requested="", dag_run_id=long_id)
    assert derived != batch_run_id(requested=None, dag_run_id=long_id + "0")
    with pytest.raises(ConfigurationError, match="1 to 64 characters"):
        batch_run_id(requested="x" * 65, dag_run_id="manual__x")
