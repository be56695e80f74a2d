"""Prometheus metrics of the serving process, on a registry of its own.

Each app gets its own ``CollectorRegistry`` so that several apps in one process (tests,
benchmarks) never collide on metric names, and ``/metrics`` shows only this service.
Buffer depth and dropped rows are read from the prediction log at scrape time by a custom
collector, so the log stays free of Prometheus code and the numbers are never stale.

With ``PROMETHEUS_MULTIPROC_DIR`` set (several uvicorn workers, ``src.api.multiprocess``) the
metrics are written to files shared by all workers and ``/metrics`` merges them; a custom
collector would only see the worker that answers the scrape, so the log's figures are then
copied into multiprocess metrics instead (:class:`LogStatsMirror`).
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterator

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram, generate_latest
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, Metric
from prometheus_client.multiprocess import MultiProcessCollector
from prometheus_client.registry import Collector

from src.api.multiprocess import forget_dead_workers, multiprocess_dir, worker_exited

BATCH_BUCKETS = (1, 2, 4, 8, 16, 32, 64, 128, 256, 512, 1024)
LATENCY_BUCKETS = (0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0)

# The prediction log's metrics: (name, help), shared by the collector and the mirror.
DEPTH = ("prediction_log_buffer_depth", "Prediction log rows waiting to be written")
DROPPED = ("prediction_log_dropped", "Prediction log rows dropped, by reason")
DROP_REASONS = ("overflow", "rejected")
LOG_COUNTERS = {  # key of PredictionLogWriter.stats() -> (name, help)
    "written": ("prediction_log_written", "Prediction log rows written to the database"),
    "duplicates_skipped": (
        "prediction_log_duplicates_skipped",
        "Rows not written because their prediction_id was already stored (retried flush)",
    ),
    "flush_failures": (
        "prediction_log_flush_failures",
        "Flushes that failed (database unreachable)",
    ),
}


class LogStatsCollector(Collector):
    """Reports the prediction-log buffer through a callback returning its counters."""

    def __init__(self, stats: Callable[[], dict[str, int]]) -> None:
        self._stats = stats

    def collect(self) -> Iterator[Metric]:
        stats = self._stats()
        depth = GaugeMetricFamily(DEPTH[0], DEPTH[1])
        depth.add_metric([], stats.get("depth", 0))
        yield depth
        dropped = CounterMetricFamily(DROPPED[0], DROPPED[1], labels=["reason"])
        for reason in DROP_REASONS:
            dropped.add_metric([reason], stats.get(f"dropped_{reason}", 0))
        yield dropped
        for key, (name, documentation) in LOG_COUNTERS.items():
            counter = CounterMetricFamily(name, documentation)
            counter.add_metric([], stats.get(key, 0))
            yield counter


class LogStatsMirror:
    """The prediction log's figures as multiprocess metrics (several workers).

    Each worker's writer thread calls :meth:`publish` after every flush cycle, and the worker
    answering a scrape calls it first, so the merged view lags by one flush interval at most.
    Counters grow by the increase since the last publish; they are summed over all workers,
    dead ones included (totals never go down when a worker is replaced).
    """

    def __init__(self, stats: Callable[[], dict[str, int]], *, registry: CollectorRegistry) -> None:
        self._stats = stats
        self._lock = threading.Lock()  # the writer thread and a scrape may publish at once
        self._published: dict[str, int] = {}
        # livesum: rows waiting in the workers alive now (a dead worker's buffer died with it).
        self.depth = Gauge(*DEPTH, multiprocess_mode="livesum", registry=registry)
        dropped = Counter(*DROPPED, ["reason"], registry=registry)
        self._counters = {f"dropped_{r}": dropped.labels(reason=r) for r in DROP_REASONS} | {
            key: Counter(name, documentation, registry=registry)
            for key, (name, documentation) in LOG_COUNTERS.items()
        }

    def publish(self) -> None:
        stats = self._stats()
        with self._lock:
            self.depth.set(stats.get("depth", 0))
            for key, counter in self._counters.items():
                increase = stats.get(key, 0) - self._published.get(key, 0)
                if increase > 0:
                    counter.inc(increase)
                    self._published[key] = stats.get(key, 0)


class ServiceMetrics:
    """All metric objects of one app; the names follow Prometheus conventions.

    ``registry`` holds the metric objects; ``exposition`` is what ``/metrics`` renders: the
    same registry in one process, or a merge of every worker's files in multiprocess mode.
    """

    def __init__(self) -> None:
        self.multiprocess_dir = multiprocess_dir()
        self.registry = CollectorRegistry(auto_describe=True)
        r = self.registry
        if self.multiprocess_dir is None:
            self.exposition = r
        else:
            self.exposition = CollectorRegistry()
            MultiProcessCollector(self.exposition, path=str(self.multiprocess_dir))
        self._log_mirror: LogStatsMirror | None = None
        self._model_version: str | None = None
        self.requests = Counter(
            "http_requests",
            "HTTP requests by endpoint, method and status",
            ["endpoint", "method", "status"],
            registry=r,
        )
        self.latency = Histogram(
            "http_request_duration_seconds",
            "HTTP request latency by endpoint and status",
            ["endpoint", "method", "status"],
            buckets=LATENCY_BUCKETS,
            registry=r,
        )
        self.predictions = Counter(
            "predictions", "Predictions served, by predicted class", ["prediction"], registry=r
        )
        # The gauges' multiprocess_mode only matters with several workers.  Each worker polls
        # and swaps on its own, so the loaded version is shown per worker (liveall: a `pid`
        # label; a worker still on the old version stays visible); ready only when every live
        # worker is (livemin: one without a model answers its share of /predict with 503);
        # a failed reload when any live worker's last load failed (livemax).  "live": the
        # series of an exited worker disappear (mark_process_dead).
        self.model_info = Gauge(
            "model_loaded_info",
            "The loaded model version (value 1 on its label)",
            ["version"],
            multiprocess_mode="liveall",
            registry=r,
        )
        self.model_ready = Gauge(
            "model_ready",
            "1 when a model is loaded and serving",
            multiprocess_mode="livemin",
            registry=r,
        )
        self.reloads = Counter("model_reloads", "Model (re)loads by result", ["result"], registry=r)
        self.reload_error = Gauge(
            "model_last_reload_failed",
            "1 when the most recent load attempt failed (the previous model is still served)",
            multiprocess_mode="livemax",
            registry=r,
        )
        self.poll_errors = Counter(
            "model_poll_errors",
            "Polls of the registry that failed (database unreachable)",
            registry=r,
        )
        self.batch_rows = Histogram(
            "predict_batch_rows",
            "Rows per forward pass of /predict scoring (observed once per request)",
            buckets=BATCH_BUCKETS,
            registry=r,
        )
        self.batch_wait = Histogram(
            "predict_batch_wait_seconds",
            "Time a request waited to join a micro-batch (0 when scored at once)",
            buckets=LATENCY_BUCKETS,
            registry=r,
        )
        for result in ("success", "failure"):
            self.reloads.labels(result=result)
        for label in ("0", "1"):
            self.predictions.labels(prediction=label)

    def observe_request(self, endpoint: str, method: str, status: int, seconds: float) -> None:
        labels = {"endpoint": endpoint, "method": method, "status": str(status)}
        self.requests.labels(**labels).inc()
        self.latency.labels(**labels).observe(seconds)

    def observe_batch(self, *, rows: int, wait_seconds: float) -> None:
        self.batch_rows.observe(rows)
        self.batch_wait.observe(wait_seconds)

    def count_predictions(self, predictions: list[int]) -> None:
        positives = sum(predictions)
        if positives:
            self.predictions.labels(prediction="1").inc(positives)
        if len(predictions) - positives:
            self.predictions.labels(prediction="0").inc(len(predictions) - positives)

    def set_model(self, version: str) -> None:
        """Exactly one version label (per worker) carries the value 1 after a swap."""
        if self.multiprocess_dir is None:
            self.model_info.clear()
        elif self._model_version not in (None, version):
            # clear() cannot delete a series from the shared files: the old one reads 0.
            self.model_info.labels(version=self._model_version).set(0)
        self._model_version = version
        self.model_info.labels(version=version).set(1)
        self.model_ready.set(1)

    def record_reload(self, *, ok: bool) -> None:
        self.reloads.labels(result="success" if ok else "failure").inc()
        self.reload_error.set(0 if ok else 1)

    def watch_log(self, stats: Callable[[], dict[str, int]]) -> Callable[[], None] | None:
        """Report the prediction log; in multiprocess mode, the callback that publishes it."""
        if self.multiprocess_dir is None:
            self.registry.register(LogStatsCollector(stats))
            return None
        self._log_mirror = LogStatsMirror(stats, registry=self.registry)
        return self._log_mirror.publish

    def register_collector(self, collector: Collector) -> None:
        """A collector of shared state (the database): any worker reports the same values."""
        self.exposition.register(collector)

    def latest(self) -> bytes:
        """The ``/metrics`` body (all workers merged in multiprocess mode)."""
        if self._log_mirror is not None:
            self._log_mirror.publish()
        return generate_latest(self.exposition)

    def worker_started(self) -> None:
        """Multiprocess mode: forget workers that died without a clean shutdown."""
        if self.multiprocess_dir is not None:
            forget_dead_workers(self.multiprocess_dir)

    def worker_stopping(self) -> None:
        """Multiprocess mode: this worker's live gauges leave the merged view."""
        if self._log_mirror is not None:
            self._log_mirror.publish()  # the final flush's rows
        if self.multiprocess_dir is not None:
            worker_exited(self.multiprocess_dir)
