"""The FastAPI service: ``uvicorn src.api.main:app`` (what ``loan-default serve`` runs).

Layout: ``deps`` (dependencies), ``routes/*`` (HTTP), ``schemas`` (contract), ``inference``
(validation + scoring), ``model_manager`` (hot reload), ``prediction_log`` (buffered DB
writes), ``metrics``, ``middleware``, ``errors`` (domain exception -> HTTP status).
"""

from __future__ import annotations

import asyncio
import gc
import logging
import os
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from fastapi import FastAPI
from fastapi.middleware.cors import CORSMiddleware
from sqlalchemy import Engine

from config.settings import get_settings
from src.api.errors import register_exception_handlers
from src.api.metrics import ServiceMetrics
from src.api.micro_batch import MicroBatcher
from src.api.middleware import (
    BodySizeLimitMiddleware,
    BodyTimeoutMiddleware,
    RequestMetricsMiddleware,
)
from src.api.model_manager import ModelManager
from src.api.monitoring_gauges import MonitoringGauges
from src.api.openapi import install_openapi
from src.api.prediction_log import PredictionLogWriter
from src.api.routes import admin, monitoring, ops, predict, reports
from src.api.shadow import ShadowScorer
from src.api.state import Services, read_fallback_example
from src.data.database import get_engine, redact_url
from src.pipeline.serving import configured_device
from src.utils.logging import configure_logging

logger = logging.getLogger(__name__)

# How long startup waits for the first registry check (a hung database must not stop boot).
FIRST_CHECK_TIMEOUT_SECONDS = 15.0


def _engine() -> Engine:
    """Resolved at call time, so the URL is whatever DATABASE_URL says when it is needed."""
    return get_engine(get_settings().database_url)


def build_services() -> Services:
    settings = get_settings()
    metrics = ServiceMetrics()
    log = PredictionLogWriter(
        engine=_engine,
        capacity=settings.prediction_log_buffer_size,
        flush_seconds=settings.prediction_log_flush_seconds,
    )
    log.after_cycle = metrics.watch_log(log.stats)
    shadow = ShadowScorer(
        log_rows=log.submit,
        # Shadow rows give way once the log is half full (database down): answers first.
        log_has_room=lambda: len(log.buffer) < log.buffer.capacity // 2,
        metrics=metrics,
        share=settings.shadow_share,
        queue_size=settings.shadow_queue_size,
        max_rows=settings.batch_max_size,
    )
    models = ModelManager(
        engine=_engine,
        poll_seconds=settings.model_poll_interval_seconds,
        metrics=metrics,
        shadow=shadow,
    )
    metrics.register_collector(
        MonitoringGauges(
            engine=_engine, version=lambda: models.current.version if models.current else None
        )
    )
    batcher = MicroBatcher(
        max_rows=settings.batch_max_size,
        max_latency_ms=settings.batch_max_latency_ms,
        metrics=metrics,
    )
    return Services(
        metrics=metrics,
        models=models,
        log=log,
        fallback_example=read_fallback_example(),
        batcher=batcher,
        shadow=shadow,
    )


@asynccontextmanager
async def lifespan(app: FastAPI) -> AsyncIterator[None]:
    """Start the poller (first load happens here) and the log flusher; flush on shutdown.

    If the database is down the service still starts, not ready, and keeps polling.  With
    several uvicorn workers this runs in each of them: every worker loads, polls and swaps
    its own model and flushes its own log (they share nothing but the database and, for
    ``/metrics``, ``PROMETHEUS_MULTIPROC_DIR``).
    """
    import torch

    settings = get_settings()
    configure_logging(settings.log_level)
    torch.set_num_threads(settings.torch_num_threads)
    # Before the first load: DEVICE=cuda without CUDA stops startup with one clear error.
    configured_device(purpose="serving")
    services: Services = app.state.services
    logger.info(
        "serving from %s (poll every %gs, pid %d)",
        redact_url(settings.database_url),
        settings.model_poll_interval_seconds,
        os.getpid(),
    )
    services.metrics.worker_started()
    services.log.start()
    if services.shadow is not None:
        services.shadow.start()
    services.models.start()
    if services.batcher is not None:
        services.batcher.start()
    loaded = await asyncio.to_thread(services.models.first_check.wait, FIRST_CHECK_TIMEOUT_SECONDS)
    if not loaded or services.models.current is None:
        logger.warning("starting without a model; /ready answers 503 until one is loaded")
    _freeze_startup_heap()
    try:
        yield
    finally:
        if services.batcher is not None:
            services.batcher.stop()
        services.models.stop()
        if services.shadow is not None:  # before the log: its last rows still get flushed
            await asyncio.to_thread(services.shadow.stop)
        await asyncio.to_thread(services.log.stop)
        services.metrics.worker_stopping()


def _freeze_startup_heap() -> None:
    """Keep the imported libraries' objects out of every later garbage collection.

    torch, pandas, SQLAlchemy and FastAPI leave ~10^6 tracked objects; a full collection
    walks them all and stopped the server for 120-160 ms every few seconds under load, which
    alone made /predict's p99 eight times its median.  Frozen, they are never traversed
    again (the same ``gc.freeze`` CPython documents for pre-fork servers).
    """
    gc.collect()
    gc.freeze()
    logger.debug("froze %d startup objects out of garbage collection", gc.get_freeze_count())


def create_app(services: Services | None = None) -> FastAPI:
    settings = get_settings()
    services = services or build_services()
    app = FastAPI(
        title="Loan default prediction",
        version="1.0.0",
        description="Scores loan applications with the registry's active TabTransformer; "
        "hot-reloads newly activated models.",
        lifespan=lifespan,
    )
    app.state.services = services
    # add_middleware wraps: the last added runs first (metrics sees every response, 413 too).
    app.add_middleware(BodySizeLimitMiddleware, max_bytes=settings.max_request_bytes)
    app.add_middleware(BodyTimeoutMiddleware, timeout_seconds=settings.api_body_timeout_seconds)
    app.add_middleware(
        CORSMiddleware,
        allow_origins=list(settings.cors_origins),
        allow_methods=["GET", "POST"],
        allow_headers=["Content-Type", "X-API-Key", "X-Request-ID"],
        expose_headers=["X-Request-ID"],
    )
    app.add_middleware(RequestMetricsMiddleware, metrics=services.metrics)
    register_exception_handlers(app)
    for router in (predict.router, ops.router, monitoring.router, admin.router, reports.router):
        app.include_router(router)
    install_openapi(app, services)
    return app


app = create_app()
