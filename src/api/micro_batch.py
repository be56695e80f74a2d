"""Adaptive micro-batching: concurrent ``/predict`` calls share one forward pass.

``/predict`` is an ``async`` route: it hands its validated record to :meth:`submit` and
awaits the result, so no request holds a thread while it waits.  One worker thread runs every
forward pass, off the event loop.  It takes the first queued request and scores it at once
when no other request is in flight (batching never makes an idle server slower); otherwise
it gathers more, for at most ``BATCH_MAX_LATENCY_MS`` or until ``BATCH_MAX_SIZE`` rows, and
scores them in one forward pass of the model they were validated against (a hot swap never
mixes two models in one pass).  Per-request cost (a forward pass's fixed overhead, a thread
hand-off) is paid once per batch, so throughput rises with load instead of falling.  Why not
the threadpool: 32 waiting request threads fight over the GIL, which cost throughput and
made the tail latency several times the median.

Sync callers (``/predict/batch`` in the threadpool, tests) use :meth:`predict`: alone, the
records are scored in the caller's thread; otherwise they join the same queue.

Every request was validated on its own before it is queued, so one bad record cannot fail
its neighbours; should a batch's forward pass fail all the same, each request is retried
alone and gets its own result or its own error.
"""

from __future__ import annotations

import asyncio
import logging
import queue
import threading
import time
from collections import deque
from collections.abc import Mapping, Sequence
from concurrent.futures import Future, InvalidStateError
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from src.api.background import BackgroundThread

if TYPE_CHECKING:
    import numpy as np

    from src.api.metrics import ServiceMetrics
    from src.models.predictor import Predictor

logger = logging.getLogger(__name__)

Scores = tuple["np.ndarray", list[list[str]]]  # calibrated PDs, unseen categories per record
RESULT_TIMEOUT_SECONDS = 120.0  # a request never waits forever on a wedged worker


@dataclass
class _Pending:
    predictor: Predictor
    records: Sequence[Mapping[str, Any]]
    queued_at: float = field(default_factory=time.perf_counter)
    future: Future[Scores] = field(default_factory=Future)


class MicroBatcher(BackgroundThread):
    """``predict(predictor, records)``: the records' scores, batched with concurrent calls."""

    def __init__(self, *, max_rows: int, max_latency_ms: float, metrics: ServiceMetrics) -> None:
        super().__init__("micro-batcher")
        self.max_rows = max_rows
        self.max_latency = max_latency_ms / 1000.0
        self._metrics = metrics
        self._queue: queue.Queue[_Pending] = queue.Queue()
        self._carried: deque[_Pending] = deque()  # taken from the queue for the next batch
        self._in_flight = 0
        self._lock = threading.Lock()

    @property
    def running(self) -> bool:
        return self._thread is not None and self._thread.is_alive()

    def predict(self, predictor: Predictor, records: Sequence[Mapping[str, Any]]) -> Scores:
        """Blocking: for callers in a worker thread."""
        with self._lock:
            alone = not self.running or self._in_flight == 0 or len(records) >= self.max_rows
            if alone:
                self._in_flight += 1
        if alone:
            try:
                self._metrics.observe_batch(rows=len(records), wait_seconds=0.0)
                return predictor.predict_records(records)
            finally:
                with self._lock:
                    self._in_flight -= 1
        return self.submit(predictor, records).result(timeout=RESULT_TIMEOUT_SECONDS)

    async def predict_async(
        self, predictor: Predictor, records: Sequence[Mapping[str, Any]]
    ) -> Scores:
        """For the event loop: the worker thread scores, the loop awaits (no thread held)."""
        if not self.running:  # not started (tests without a lifespan) or stopping
            return await asyncio.to_thread(predictor.predict_records, records)
        return await asyncio.wait_for(
            asyncio.wrap_future(self.submit(predictor, records)), RESULT_TIMEOUT_SECONDS
        )

    def submit(self, predictor: Predictor, records: Sequence[Mapping[str, Any]]) -> Future[Scores]:
        """Queue the records for the worker; the future holds their scores or their error."""
        pending = _Pending(predictor, records)
        with self._lock:
            self._in_flight += 1
        self._queue.put(pending)
        return pending.future

    # ------------------------------------------------------------------ worker
    def _run(self) -> None:
        while not self._stop.is_set():
            first = self._next(timeout=0.1)
            if first is None:
                continue
            batch, rows = [first], len(first.records)
            deadline = time.perf_counter() + self.max_latency
            while rows < self.max_rows:
                # Wait for more only while other requests are in flight: a lone one goes now.
                others = self._in_flight > len(batch)
                wait = max(deadline - time.perf_counter(), 0.0) if others else 0.0
                item = self._next(timeout=wait)
                if item is None:
                    break
                if (
                    item.predictor is not first.predictor
                    or rows + len(item.records) > self.max_rows
                ):
                    self._carried.append(item)  # another model's, or too many: the next batch
                    break
                batch.append(item)
                rows += len(item.records)
            self._score(batch, rows)
        for item in [*self._carried, *_drain(self._queue)]:  # stopping: answer everyone
            self._score([item], len(item.records))

    def _next(self, *, timeout: float) -> _Pending | None:
        if self._carried:
            return self._carried.popleft()
        try:
            return self._queue.get(timeout=timeout) if timeout > 0 else self._queue.get_nowait()
        except queue.Empty:
            return None

    def _score(self, batch: list[_Pending], rows: int) -> None:
        started = time.perf_counter()
        for item in batch:
            self._metrics.observe_batch(rows=rows, wait_seconds=started - item.queued_at)
        records = [record for item in batch for record in item.records]
        try:
            proba, unseen = batch[0].predictor.predict_records(records)
        except Exception as exc:  # each request gets its own outcome
            if len(batch) == 1:
                self._deliver(batch[0], error=exc)  # raised in the request's own context
                return
            logger.warning(
                "a batch of %d requests failed (%s); scoring them one by one", len(batch), exc
            )
            for item in batch:
                self._score([item], len(item.records))
            return
        start = 0
        for item in batch:
            end = start + len(item.records)
            self._deliver(item, result=(proba[start:end], unseen[start:end]))
            start = end

    def _deliver(
        self, item: _Pending, *, result: Scores | None = None, error: Exception | None = None
    ) -> None:
        """Answer one request; it stops counting as in flight before its waiter wakes."""
        with self._lock:
            self._in_flight -= 1
        try:
            if error is not None:
                item.future.set_exception(error)
            else:
                item.future.set_result(result)  # type: ignore[arg-type]
        except InvalidStateError:  # its waiter gave up (timeout): nobody to answer
            logger.debug("a scored request's waiter had already gone")


def _drain(pending: queue.Queue[_Pending]) -> list[_Pending]:
    items = []
    while True:
        try:
            items.append(pending.get_nowait())
        except queue.Empty:
            return items
