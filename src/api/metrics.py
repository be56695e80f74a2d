"""Prometheus metrics of the serving process, on a registry of its own.

Each app gets its own ``CollectorRegistry`` so that several apps in one process (tests,
benchmarks) never collide on metric names, and ``/metrics`` shows only this service.
Buffer depth and dropped rows are read from the prediction log at scrape time by a custom
collector, so the log stays free of Prometheus code and the numbers are never stale.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, Metric
from prometheus_client.registry import Collector

BATCH_BUCKETS = (1, 2, 4, 8, 16, 32, 64, 128, 256, 512, 1024)
LATENCY_BUCKETS = (0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0)


class LogStatsCollector(Collector):
    """Reports the prediction-log buffer through a callback returning its counters."""

    def __init__(self, stats: Callable[[], dict[str, int]]) -> None:
        self._stats = stats

    def collect(self) -> Iterator[Metric]:
        stats = self._stats()
        depth = GaugeMetricFamily(
            "prediction_log_buffer_depth", "Prediction log rows waiting to be written"
        )
        depth.add_metric([], stats.get("depth", 0))
        yield depth
        dropped = CounterMetricFamily(
            "prediction_log_dropped", "Prediction log rows dropped, by reason", labels=["reason"]
        )
        dropped.add_metric(["overflow"], stats.get("dropped_overflow", 0))
        dropped.add_metric(["rejected"], stats.get("dropped_rejected", 0))
        yield dropped
        written = CounterMetricFamily(
            "prediction_log_written", "Prediction log rows written to the database"
        )
        written.add_metric([], stats.get("written", 0))
        yield written
        duplicates = CounterMetricFamily(
            "prediction_log_duplicates_skipped",
            "Rows not written because their prediction_id was already stored (retried flush)",
        )
        duplicates.add_metric([], stats.get("duplicates_skipped", 0))
        yield duplicates
        failures = CounterMetricFamily(
            "prediction_log_flush_failures", "Flushes that failed (database unreachable)"
        )
        failures.add_metric([], stats.get("flush_failures", 0))
        yield failures


class ServiceMetrics:
    """All metric objects of one app; the names follow Prometheus conventions."""

    def __init__(self) -> None:
        self.registry = CollectorRegistry(auto_describe=True)
        r = self.registry
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
        self.model_info = Gauge(
            "model_loaded_info",
            "The loaded model version (value 1 on its label)",
            ["version"],
            registry=r,
        )
        self.model_ready = Gauge("model_ready", "1 when a model is loaded and serving", registry=r)
        self.reloads = Counter("model_reloads", "Model (re)loads by result", ["result"], registry=r)
        self.reload_error = Gauge(
            "model_last_reload_failed",
            "1 when the most recent load attempt failed (the previous model is still served)",
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
        """Exactly one version label carries the value 1 after a swap."""
        self.model_info.clear()
        self.model_info.labels(version=version).set(1)
        self.model_ready.set(1)

    def record_reload(self, *, ok: bool) -> None:
        self.reloads.labels(result="success" if ok else "failure").inc()
        self.reload_error.set(0 if ok else 1)

    def watch_log(self, stats: Callable[[], dict[str, int]]) -> None:
        self.registry.register(LogStatsCollector(stats))
