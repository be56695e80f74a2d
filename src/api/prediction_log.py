"""Writes served predictions to ``loan_data.predictions`` off the request path.

Requests append rows to a bounded :class:`LogBuffer`; a background thread bulk-inserts them
every ``prediction_log_flush_seconds`` (or sooner once a batch is pending).  While the
database is down the rows wait in the buffer and the thread retries with a capped backoff,
so predictions keep being served and the rows land once PostgreSQL returns.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable
from typing import Any

from sqlalchemy import Engine, insert
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlalchemy.exc import (
    DisconnectionError,
    InterfaceError,
    OperationalError,
    ProgrammingError,
)
from sqlalchemy.exc import TimeoutError as PoolTimeoutError

from src.api.log_buffer import LogBuffer, Row
from src.data.tables import Prediction

logger = logging.getLogger(__name__)

# Errors that say "the database is not usable right now", not "this row is bad": retry later.
TRANSIENT = (
    OperationalError,
    InterfaceError,
    DisconnectionError,
    PoolTimeoutError,
    ProgrammingError,
)
MAX_BACKOFF_SECONDS = 2.0


def insert_ignoring_duplicates(engine: Engine, rows: list[Row]) -> None:
    """Bulk insert; a row whose ``request_id`` is already stored is skipped, not an error."""
    table = Prediction.__table__
    if engine.dialect.name == "postgresql":
        stmt: Any = pg_insert(table).on_conflict_do_nothing(index_elements=["request_id"])
    elif engine.dialect.name == "sqlite":
        stmt = sqlite_insert(table).on_conflict_do_nothing(index_elements=["request_id"])
    else:  # other dialects: plain insert (duplicates then fail the batch, rows are isolated)
        stmt = insert(table)
    with engine.begin() as conn:
        conn.execute(stmt, rows)


class PredictionLogWriter:
    """Owns the buffer and the flusher thread; ``submit`` is all the request path calls."""

    def __init__(
        self,
        *,
        engine: Callable[[], Engine],
        capacity: int,
        flush_seconds: float,
        batch_size: int = 1000,
    ) -> None:
        self.buffer = LogBuffer(capacity)
        self._engine = engine
        self._flush_seconds = flush_seconds
        self._batch_size = batch_size
        self._wake = threading.Event()
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self.written = 0
        self.rejected = 0
        self.flush_failures = 0
        self._failing = False

    # ------------------------------------------------------------------ request path
    def submit(self, rows: list[Row]) -> None:
        self.buffer.extend(rows)
        if len(self.buffer) >= self._batch_size:
            self._wake.set()

    def stats(self) -> dict[str, int]:
        return {
            "depth": len(self.buffer),
            "dropped_overflow": self.buffer.dropped,
            "dropped_rejected": self.rejected,
            "written": self.written,
            "flush_failures": self.flush_failures,
        }

    # ------------------------------------------------------------------ lifecycle
    def start(self) -> None:
        self._stop.clear()
        self._thread = threading.Thread(target=self._run, name="prediction-log", daemon=True)
        self._thread.start()

    def stop(self, *, timeout: float = 5.0) -> None:
        """Stop the thread, then flush what is left (bounded by ``timeout``)."""
        self._stop.set()
        self._wake.set()
        if self._thread is not None:
            self._thread.join(timeout)
        deadline = time.monotonic() + timeout
        while len(self.buffer) and time.monotonic() < deadline:
            if not self.flush_once():
                break
        if len(self.buffer):
            logger.error(
                "shutting down with %d prediction log rows unwritten (database unreachable)",
                len(self.buffer),
            )

    def _run(self) -> None:
        backoff = self._flush_seconds
        while not self._stop.is_set():
            self._wake.wait(backoff)
            self._wake.clear()
            if self._stop.is_set():
                break
            ok = True
            while ok and len(self.buffer) and not self._stop.is_set():
                ok = self.flush_once()
            backoff = (
                self._flush_seconds
                if ok
                else min(max(backoff * 2, self._flush_seconds), MAX_BACKOFF_SECONDS)
            )

    # ------------------------------------------------------------------ flushing
    def flush_once(self) -> bool:
        """Write one batch; False when the database is unreachable (rows are requeued)."""
        rows = self.buffer.take(self._batch_size)
        if not rows:
            return True
        try:
            engine = self._engine()
        except Exception as exc:  # bad URL or missing driver: keep the rows, keep retrying
            self._requeue_after_failure(rows, exc)
            return False
        try:
            insert_ignoring_duplicates(engine, rows)
        except TRANSIENT as exc:
            self._requeue_after_failure(rows, exc)
            return False
        except Exception as exc:  # a row the database refuses (SQLAlchemyError or encoding)
            logger.warning(
                "prediction log batch rejected (%s); retrying row by row", type(exc).__name__
            )
            return self._write_one_by_one(engine, rows)
        self._succeeded(len(rows))
        return True

    def _write_one_by_one(self, engine: Engine, rows: list[Row]) -> bool:
        """Isolate rows the database refuses, so one bad row cannot block the log forever."""
        for i, row in enumerate(rows):
            try:
                insert_ignoring_duplicates(engine, [row])
            except TRANSIENT as exc:
                self._requeue_after_failure(rows[i:], exc)
                return False
            except Exception as exc:
                self.rejected += 1
                logger.error(
                    "dropped prediction log row %s: %s",
                    row.get("request_id"),
                    str(exc).splitlines()[0][:300],
                )
                continue
            self._succeeded(1)
        return True

    def _succeeded(self, count: int) -> None:
        self.written += count
        if self._failing:
            self._failing = False
            logger.info("prediction log writes resumed; %d rows still pending", len(self.buffer))

    def _requeue_after_failure(self, rows: list[Row], exc: Exception) -> None:
        self.buffer.requeue(rows)
        self.flush_failures += 1
        if not self._failing:
            self._failing = True
            logger.warning(
                "cannot write the prediction log (%s); keeping up to %d rows in "
                "memory and retrying",
                type(exc).__name__,
                self.buffer.capacity,
            )
