"""Prometheus gauges of the served model's drift and estimated performance.

Read from the registry database at scrape time, at most once per ``ttl_seconds`` (the rows
change once per monitoring run, daily), so a scrape every 15 s costs one small query every
half minute.  While the database is unreachable the last values are kept: the serving
metrics must never fail because monitoring cannot be read.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable, Iterator
from typing import Any

from prometheus_client.core import GaugeMetricFamily, Metric
from prometheus_client.registry import Collector
from sqlalchemy import Engine
from sqlalchemy.exc import SQLAlchemyError

from src.data.database import session_scope
from src.pipeline.monitoring_view import monitoring_snapshot

logger = logging.getLogger(__name__)


class MonitoringGauges(Collector):
    def __init__(
        self,
        *,
        engine: Callable[[], Engine],
        version: Callable[[], str | None],
        ttl_seconds: float = 30.0,
    ) -> None:
        self._engine, self._version, self._ttl = engine, version, ttl_seconds
        self._lock = threading.Lock()
        self._snapshot: dict[str, Any] | None = None
        self._read_at = -float("inf")

    def snapshot(self) -> dict[str, Any] | None:
        version = self._version()
        if version is None:
            return None
        with self._lock:
            fresh = self._snapshot is not None and self._snapshot["model_version"] == version
            if fresh and time.monotonic() - self._read_at < self._ttl:
                return self._snapshot
            try:
                with session_scope(self._engine()) as session:
                    self._snapshot = monitoring_snapshot(session, model_version=version)
                self._read_at = time.monotonic()
            except SQLAlchemyError as exc:
                logger.debug("monitoring gauges: registry unreachable (%s)", exc)
            kept = self._snapshot  # a failed read keeps the last values of the same model
            return kept if kept is not None and kept["model_version"] == version else None

    def collect(self) -> Iterator[Metric]:
        snapshot = self.snapshot() or {}
        score = GaugeMetricFamily(
            "loan_default_score_psi",
            "PSI of the model's score against its reference, by population",
            labels=["model_version", "population"],
        )
        feature = GaugeMetricFamily(
            "loan_default_feature_psi",
            "CSI (PSI of one feature) against the model's reference, by population",
            labels=["model_version", "population", "feature"],
        )
        estimated = GaugeMetricFamily(
            "loan_default_estimated_f1",
            "CBPE-estimated F1 (default class) of recent predictions without outcomes",
            labels=["model_version"],
        )
        version = snapshot.get("model_version", "")
        drift = snapshot.get("drift") or {}
        for population, entry in (drift.get("populations") or {}).items():
            if entry["score"] and entry["score"]["psi"] is not None:
                score.add_metric([version, population], entry["score"]["psi"])
            for item in entry["features"]:
                if item["psi"] is not None:
                    feature.add_metric([version, population, item["feature"]], item["psi"])
        for row in snapshot.get("performance", []):
            f1 = row["metrics"].get("f1_score")
            if row["estimated"] and f1 is not None:
                estimated.add_metric([version], f1)
        yield score
        yield feature
        yield estimated
