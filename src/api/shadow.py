"""Shadow scoring: a challenger scores a share of live traffic, off the request path.

The request path only *offers* work: ``submit`` picks the sampled records and puts one job
on a bounded queue with ``put_nowait``; a full queue drops the job and counts it
(``shadow_predictions_total{result="dropped"}``).  So a slow or failing shadow never delays
or changes an answer: the client's response was built before ``submit`` is called, from the
champion alone.  One worker thread scores queued jobs in batches with the shadow model and
hands its rows (``role='shadow'``, each naming the champion answer it mirrors) to the same
prediction log writer.

Which records are shadowed is deterministic: a hash of the ``application_id`` (else of the
request id) against ``SHADOW_SHARE``, so replaying the same applications shadows the same
ones, and an application scored again stays in (or out of) the comparison.

The shadow model itself is loaded by the model poller (``src.api.shadow_slot``) and published
here by one reference assignment (``model``), like the champion.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import logging
import math
import queue
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from prometheus_client import Counter

from src.api.background import BackgroundThread
from src.data.tables import SHADOW

if TYPE_CHECKING:
    from src.api.metrics import ServiceMetrics
    from src.api.model_manager import LoadedModel

logger = logging.getLogger(__name__)

RESULTS = ("scored", "dropped", "failed")
_HASH_SPACE = float(2**64)


def sampled(key: str | None, share: float) -> bool:
    """Whether the record keyed ``key`` is shadow-scored at ``share`` (deterministic).

    blake2b of the key, read as a fraction in [0, 1): below ``share`` is in.  Stable across
    processes and Python versions (unlike ``hash``), so every API replica agrees.
    """
    if share >= 1.0:
        return True
    if share <= 0.0 or key is None:
        return False
    digest = hashlib.blake2b(key.encode("utf-8"), digest_size=8).digest()
    return int.from_bytes(digest, "big") / _HASH_SPACE < share


@dataclass
class ShadowJob:
    """Records one request answered, with the champion answers they mirror."""

    records: list[dict[str, Any]]
    answers: list[dict[str, Any]]  # the champion's response items (ids, prediction_id)
    queued_at: float = field(default_factory=time.perf_counter)


class ShadowScorer(BackgroundThread):
    """``submit`` from the request path; the worker scores with ``model`` and logs the rows."""

    def __init__(
        self,
        *,
        log_rows: Callable[[list[dict[str, Any]]], None],
        log_has_room: Callable[[], bool],
        metrics: ServiceMetrics,
        share: float,
        queue_size: int,
        max_rows: int = 256,
    ) -> None:
        super().__init__("shadow-scorer")
        self.model: LoadedModel | None = None  # published by the poller (ShadowSlot)
        self.share = share
        self.max_rows = max_rows
        self._log_rows = log_rows
        self._log_has_room = log_has_room
        self._queue: queue.Queue[ShadowJob] = queue.Queue(maxsize=queue_size)
        self.counter = Counter(
            "shadow_predictions",
            "Records offered to the shadow model, by result (dropped: queue full, log "
            "backlog or no shadow model when scored; failed: the shadow could not score them)",
            ["result"],
            registry=metrics.registry,
        )
        for result in RESULTS:
            self.counter.labels(result=result)

    # ------------------------------------------------------------------ request path
    def submit(
        self, champion: LoadedModel, records: list[dict[str, Any]], answers: list[dict[str, Any]]
    ) -> int:
        """Offer an answered request's records; returns how many were queued (never blocks)."""
        shadow = self.model
        if shadow is None or shadow.version == champion.version or self.share <= 0.0:
            return 0
        chosen = [
            i
            for i, answer in enumerate(answers)
            if sampled(answer.get("application_id") or answer.get("request_id"), self.share)
        ]
        if not chosen:
            return 0
        job = ShadowJob([records[i] for i in chosen], [answers[i] for i in chosen])
        try:
            self._queue.put_nowait(job)
        except queue.Full:
            self.counter.labels(result="dropped").inc(len(chosen))
            return 0
        return len(chosen)

    # ------------------------------------------------------------------ worker
    def _run(self) -> None:
        while not self._stop.is_set():
            try:
                first = self._queue.get(timeout=0.1)
            except queue.Empty:
                continue
            jobs, rows = [first], len(first.records)
            while rows < self.max_rows:
                try:
                    job = self._queue.get_nowait()
                except queue.Empty:
                    break
                jobs.append(job)
                rows += len(job.records)
            self.score(jobs)

    def score(self, jobs: list[ShadowJob]) -> None:
        """Score queued jobs in one forward pass and log the rows (the worker's step)."""
        records = [r for job in jobs for r in job.records]
        answers = [a for job in jobs for a in job.answers]
        shadow = self.model  # captured once: a swap mid-batch cannot mix two shadows
        if shadow is None or not self._log_has_room():
            # No shadow any more (promoted or withdrawn), or the log is backed up (database
            # down): champion rows must keep the log's room, so shadow rows give way.
            self.counter.labels(result="dropped").inc(len(records))
            return
        started = time.perf_counter()
        try:
            missing = set(shadow.predictor.schema.features).difference(records[0])
            if missing:
                raise ValueError(f"records lack the shadow model's features {sorted(missing)}")
            proba, _ = shadow.predictor.predict_records(records)
        except Exception as exc:  # never the champion's problem: count, log, go on
            self.counter.labels(result="failed").inc(len(records))
            logger.warning(
                "shadow model %s could not score %d records: %s",
                shadow.version,
                len(records),
                str(exc)[:300],
            )
            return
        latency_ms = (time.perf_counter() - started) * 1000.0
        scores = [float(p) for p in proba]
        finite = [math.isfinite(p) for p in scores]  # defensive: the preprocessor clips
        if not all(finite):
            self.counter.labels(result="failed").inc(len(finite) - sum(finite))
        threshold = float(shadow.predictor.threshold)
        created_at = dt.datetime.now(dt.UTC)
        rows = [
            {
                "prediction_id": uuid.uuid4().hex,
                "request_id": answer["request_id"],
                "application_id": answer.get("application_id"),
                "model_version": shadow.version,
                "features": record,
                "probability": p,
                "prediction": int(p >= threshold),
                "latency_ms": latency_ms,
                "created_at": created_at,
                "role": SHADOW,
                "champion_prediction_id": answer["prediction_id"],
            }
            for record, answer, p, ok in zip(records, answers, scores, finite, strict=True)
            if ok
        ]
        self._log_rows(rows)
        self.counter.labels(result="scored").inc(len(rows))

    def stop(self, *, timeout: float = 5.0) -> None:
        """Stop the worker; jobs still queued are dropped (counted), never blocking shutdown."""
        super().stop(timeout=timeout)
        dropped = 0
        while True:
            try:
                dropped += len(self._queue.get_nowait().records)
            except queue.Empty:
                break
        if dropped:
            self.counter.labels(result="dropped").inc(dropped)
