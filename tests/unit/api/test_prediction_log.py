"""The prediction log writer: idempotent bulk inserts, retry while the DB is down, poison rows."""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import pytest
from sqlalchemy import Engine, create_engine, func, select
from sqlalchemy.exc import OperationalError

from src.api.prediction_log import PredictionLogWriter, insert_ignoring_duplicates
from src.data.database import get_engine
from src.data.tables import Base, Prediction


@pytest.fixture
def sqlite_engine(tmp_path: Path) -> Engine:
    engine = get_engine(f"sqlite:///{tmp_path / 'log.db'}")
    Base.metadata.create_all(engine)
    return engine


def row(request_id: str, **overrides: object) -> dict[str, object]:
    values: dict[str, object] = {
        "prediction_id": f"pid-{request_id}",
        "request_id": request_id,
        "model_version": "v0001",
        "features": {"a": 1.0},
        "probability": 0.25,
        "prediction": 0,
        "latency_ms": 1.5,
        "created_at": dt.datetime.now(dt.UTC),
    }
    return values | overrides


def stored_ids(engine: Engine) -> list[str]:
    with engine.connect() as conn:
        return list(conn.scalars(select(Prediction.request_id).order_by(Prediction.id)))


def count(engine: Engine) -> int:
    with engine.connect() as conn:
        return int(conn.scalar(select(func.count()).select_from(Prediction)) or 0)


def test_insert_is_idempotent_per_prediction_id(sqlite_engine: Engine) -> None:
    assert insert_ignoring_duplicates(sqlite_engine, [row("a"), row("b")]) == 2
    # a flush retried after its commit landed: "b" is the same answer, stored once
    assert insert_ignoring_duplicates(sqlite_engine, [row("b"), row("c")]) == 1
    assert stored_ids(sqlite_engine) == ["a", "b", "c"]


def test_a_reused_client_request_id_is_logged_for_every_answer(sqlite_engine: Engine) -> None:
    """Two answers that share a client X-Request-ID are two log rows, and counted as such."""
    writer = PredictionLogWriter(engine=lambda: sqlite_engine, capacity=10, flush_seconds=0.05)
    writer.submit([row("same", prediction_id="p1"), row("same", prediction_id="p2")])
    writer.submit([row("zz-1", prediction_id="p3")])
    assert writer.flush_once()
    assert stored_ids(sqlite_engine) == ["same", "same", "zz-1"]
    assert writer.stats()["written"] == 3
    assert writer.stats()["duplicates_skipped"] == 0


def test_counters_tell_skipped_duplicates_from_writes(sqlite_engine: Engine) -> None:
    writer = PredictionLogWriter(engine=lambda: sqlite_engine, capacity=10, flush_seconds=0.05)
    writer.submit([row("a"), row("b")])
    assert writer.flush_once()
    writer.submit([row("b")])  # the same prediction_id again: a retried flush
    assert writer.flush_once()
    assert writer.stats()["written"] == 2
    assert writer.stats()["duplicates_skipped"] == 1
    assert count(sqlite_engine) == 2


class FlakyEngine:
    """Hands out a broken engine until ``up`` is set, like a database that went away."""

    def __init__(self, real: Engine) -> None:
        self.real = real
        self.up = False
        self.broken = create_engine("sqlite:////nonexistent-dir/for/sure/x.db")

    def __call__(self) -> Engine:
        return self.real if self.up else self.broken


def test_rows_wait_while_down_and_land_when_back(sqlite_engine: Engine) -> None:
    engine = FlakyEngine(sqlite_engine)
    writer = PredictionLogWriter(engine=engine, capacity=100, flush_seconds=0.05, batch_size=2)
    writer.submit([row(f"r{i}") for i in range(5)])
    assert writer.flush_once() is False
    assert len(writer.buffer) == 5
    assert writer.stats()["flush_failures"] == 1
    engine.up = True
    while len(writer.buffer):
        assert writer.flush_once()
    assert stored_ids(sqlite_engine) == [f"r{i}" for i in range(5)]
    assert writer.stats() | {} == {
        "depth": 0,
        "dropped_overflow": 0,
        "dropped_rejected": 0,
        "written": 5,
        "duplicates_skipped": 0,
        "flush_failures": 1,
    }


def test_overflow_while_down_is_counted(sqlite_engine: Engine) -> None:
    engine = FlakyEngine(sqlite_engine)
    writer = PredictionLogWriter(engine=engine, capacity=3, flush_seconds=0.05)
    writer.submit([row(f"r{i}") for i in range(5)])
    assert writer.flush_once() is False
    assert writer.stats()["dropped_overflow"] == 2
    engine.up = True
    assert writer.flush_once()
    assert stored_ids(sqlite_engine) == ["r2", "r3", "r4"]


def test_a_row_the_database_refuses_is_dropped_alone(sqlite_engine: Engine) -> None:
    writer = PredictionLogWriter(engine=lambda: sqlite_engine, capacity=10, flush_seconds=0.05)
    bad = row("bad", features={"x": object()})  # not JSON-serialisable
    writer.submit([row("ok1"), bad, row("ok2")])
    assert writer.flush_once()
    assert stored_ids(sqlite_engine) == ["ok1", "ok2"]
    assert writer.stats()["dropped_rejected"] == 1


def test_background_thread_flushes_and_stop_drains(sqlite_engine: Engine) -> None:
    writer = PredictionLogWriter(engine=lambda: sqlite_engine, capacity=100, flush_seconds=30)
    writer.start()
    writer.submit([row("x1"), row("x2")])  # below the batch size: waits for the timer
    writer.stop(timeout=60)  # generous: a loaded machine must not fail a behaviour test
    assert count(sqlite_engine) == 2  # flushed on shutdown


def test_background_thread_flushes_on_its_interval(sqlite_engine: Engine) -> None:
    import time

    writer = PredictionLogWriter(engine=lambda: sqlite_engine, capacity=100, flush_seconds=0.05)
    writer.start()
    try:
        writer.submit([row("t1")])
        deadline = time.monotonic() + 60  # proves the interval flush happens, not its speed
        while count(sqlite_engine) < 1 and time.monotonic() < deadline:
            time.sleep(0.02)
        assert count(sqlite_engine) == 1
    finally:
        writer.stop()


def test_engine_factory_failure_is_transient() -> None:
    def no_engine() -> Engine:
        raise OperationalError("connect", {}, Exception("refused"))

    writer = PredictionLogWriter(engine=no_engine, capacity=10, flush_seconds=0.05)
    writer.submit([row("a")])
    assert writer.flush_once() is False
    assert len(writer.buffer) == 1
