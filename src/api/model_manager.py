"""Which model the service answers with, and hot reload of the registry's active model.

A background thread polls the active version every ``model_poll_interval_seconds``.  A new
version is loaded and checksum-verified off the request path, then published by a single
reference assignment: a request captures ``manager.current`` once and finishes on that object
even if a swap happens meanwhile.  A failed load keeps the old model serving; the error is
kept for ``/model`` and ``/metrics``, and the same artifact is not retried on every poll
(only a changed artifact or a forced reload tries again).
"""

from __future__ import annotations

import datetime as dt
import logging
import threading
from collections.abc import Callable
from dataclasses import dataclass, field, replace
from typing import TYPE_CHECKING, Any

from sqlalchemy import Engine
from sqlalchemy.exc import SQLAlchemyError

from config.settings import get_settings
from src.api.background import BackgroundThread
from src.api.metrics import ServiceMetrics
from src.api.model_lines import LineModels
from src.api.shadow_slot import ShadowSlot
from src.data import repository as repo
from src.data.database import session_scope
from src.data.tables import ModelMetadata
from src.models.metrics import METRIC_NAMES
from src.utils.logging import redact

if TYPE_CHECKING:
    from src.api.shadow import ShadowScorer
    from src.models.predictor import Predictor

logger = logging.getLogger(__name__)


def _now() -> dt.datetime:
    return dt.datetime.now(dt.UTC)


def _default_loader(row: ModelMetadata) -> Predictor:
    """Load onto the ``DEVICE`` setting's device (the API's startup logged it once)."""
    from src.pipeline.serving import configured_device, predictor_for  # torch: once serving

    return predictor_for(row, device=configured_device())


@dataclass(frozen=True)
class LoadedModel:
    """A verified predictor plus the registry facts ``/model`` reports about it."""

    predictor: Predictor
    version: str
    sha256: str
    info: dict[str, Any]
    loaded_at: dt.datetime = field(default_factory=_now)
    # Training vocabularies as sets: per-request unseen-category checks become dict lookups
    # instead of a pandas pass over the frame (several ms per request for one row).
    known_categories: dict[str, frozenset[str]] = field(init=False, repr=False)

    def __post_init__(self) -> None:
        vocab = self.predictor.preprocessor.categories
        known = {col: frozenset(values) for col, values in vocab.items()}
        object.__setattr__(self, "known_categories", known)

    def unseen_categories(self, records: list[dict[str, Any]]) -> list[list[str]]:
        """Per record, categorical features whose (non-missing) value training never saw.

        Same answer as ``Preprocessor.unseen_categories`` for validated records, whose
        categorical values are already ``str`` or ``None``.
        """
        columns = self.predictor.schema.categorical
        known = self.known_categories
        return [
            [c for c in columns if r.get(c) is not None and str(r[c]) not in known.get(c, ())]
            for r in records
        ]


@dataclass(frozen=True)
class LoadError:
    version: str | None
    error: str
    at: dt.datetime = field(default_factory=_now)

    def as_dict(self) -> dict[str, Any]:
        return {"version": self.version, "error": self.error, "at": self.at.isoformat()}


@dataclass(frozen=True)
class CheckResult:
    version: str | None  # the version served after the check
    changed: bool
    error: str | None = None
    database_error: bool = False


def _summary(row: ModelMetadata) -> dict[str, Any]:
    return {
        "model_version": row.model_version,
        "source": row.source,
        "model_type": row.model_type,
        # Models registered before migration 0003 have no credit metrics (NULL): left out.
        "metrics": {k: getattr(row, k) for k in METRIC_NAMES if getattr(row, k) is not None},
        "benchmark_metrics": row.benchmark_metrics,  # None: registered before 0006
        "threshold": row.threshold,
        "data_snapshot": row.data_snapshot,
        "created_at": row.created_at,
        "activated_at": row.activated_at,
        "artifact_sha256": row.artifact_sha256,
        "artifact_size": row.artifact_size,
        "status_reason": row.status_reason,
    }


class ModelManager(BackgroundThread):
    """Owns ``current`` (the served model) and the poller thread that keeps it up to date."""

    def __init__(
        self,
        *,
        engine: Callable[[], Engine],
        poll_seconds: float,
        metrics: ServiceMetrics,
        loader: Callable[[ModelMetadata], Predictor] = _default_loader,
        shadow: ShadowScorer | None = None,
    ) -> None:
        super().__init__("model-poller")
        self.current: LoadedModel | None = None
        self.line: str | None = None  # the default line ``current`` belongs to
        self.lines = LineModels(engine=engine, loader=loader, summary=_summary)
        self.last_error: LoadError | None = None
        self.last_poll_error: LoadError | None = None
        self.first_check = threading.Event()
        self._engine = engine
        self._poll_seconds = poll_seconds
        self._metrics = metrics
        self._loader = loader
        self._lock = threading.Lock()
        self._failed: tuple[str, str] | None = None
        self.shadow = (
            ShadowSlot(scorer=shadow, engine=engine, loader=loader, summary=_summary)
            if shadow is not None
            else None
        )

    # ------------------------------------------------------------------ lifecycle
    def _run(self) -> None:
        self._safe_check()
        self.first_check.set()  # readiness never waits for the shadow's load
        self._refresh_shadow()
        while not self._stop.wait(self._poll_seconds):
            self._safe_check()
            self._refresh_shadow()
            self.lines.refresh()  # lines requested by name (?model=) hot-swap the same way

    def _safe_check(self) -> None:
        try:
            self.check()
        except Exception:  # the poller must survive anything; check() already logs
            logger.exception("model poll failed unexpectedly")

    def _refresh_shadow(self) -> None:
        if self.shadow is None:
            return
        try:
            self.shadow.refresh(self.line if self.current is not None else None)
        except SQLAlchemyError as exc:  # registry unreachable: check() already reported it
            logger.debug("cannot refresh the shadow model: %s", redact(str(exc))[:300])
        except Exception as exc:  # the poller must survive anything; the shadow stays as it is
            logger.warning("cannot refresh the shadow model: %s", redact(str(exc))[:300])

    # ------------------------------------------------------------------ checking
    def check(self, *, force: bool = False) -> CheckResult:
        """Load the registry's active model if it differs from the one served.

        ``force`` retries an artifact that failed before (an operator's explicit reload).
        """
        with self._lock:
            served = self.current.version if self.current else None
            try:
                with session_scope(self._engine()) as session:
                    line = repo.serving_line(session, preferred=get_settings().data_source)
                    self.line = line or self.line
                    row = (
                        repo.get_active_model(session, source=line, with_artifact=False)
                        if line
                        else None
                    )
                    summary = _summary(row) if row is not None else None
            except Exception as exc:  # database unreachable or misconfigured
                return self._poll_failed(exc, served)
            if self.last_poll_error is not None:
                logger.info("model registry reachable again")
                self.last_poll_error = None
            if summary is None:
                return CheckResult(version=served, changed=False)
            key = (summary["model_version"], summary["artifact_sha256"])
            if self.current is not None and (self.current.version, self.current.sha256) == key:
                if self.last_error is not None:  # rolled back to the served model: all clear
                    self._failed, self.last_error = None, None
                    self._metrics.reload_error.set(0)
                return CheckResult(version=served, changed=False)
            if not force and self._failed == key:
                error = self.last_error.error if self.last_error else "load failed"
                return CheckResult(version=served, changed=False, error=error)
            shadow = self.shadow.loaded if self.shadow is not None else None
            if shadow is not None and (shadow.version, shadow.sha256) == key:
                return self._publish(replace(shadow, info=summary), served, promoted=True)
            return self._load(key, summary, served)

    def _load(
        self, key: tuple[str, str], summary: dict[str, Any], served: str | None
    ) -> CheckResult:
        version = key[0]
        try:
            with session_scope(self._engine()) as session:
                row = repo.get_model(session, version=version)
        except Exception as exc:
            return self._poll_failed(exc, served)
        try:
            loaded = LoadedModel(
                predictor=self._loader(row), version=version, sha256=key[1], info=summary
            )
        except Exception as exc:  # corrupt artifact, failed checksum, incompatible format
            message = redact(f"{type(exc).__name__}: {exc}")[:1000]
            self._failed = key
            self.last_error = LoadError(version=version, error=message)
            self._metrics.record_reload(ok=False)
            logger.error("cannot load model %s (still serving %s): %s", version, served, message)
            return CheckResult(version=served, changed=False, error=message)
        return self._publish(loaded, served)

    def _publish(
        self, loaded: LoadedModel, served: str | None, *, promoted: bool = False
    ) -> CheckResult:
        """Serve ``loaded``; ``promoted``: it is the shadow, already loaded (no reload gap)."""
        self.current = loaded  # the atomic swap: requests already running keep the old one
        self._failed, self.last_error = None, None
        self._metrics.record_reload(ok=True)
        self._metrics.set_model(loaded.version)
        how = " (the loaded shadow, promoted without a reload)" if promoted else ""
        logger.info("serving model %s%s (previously %s)", loaded.version, how, served or "none")
        return CheckResult(version=loaded.version, changed=True)

    def _poll_failed(self, exc: Exception, served: str | None) -> CheckResult:
        message = redact(f"{type(exc).__name__}: {str(exc).splitlines()[0] if str(exc) else ''}")
        if self.last_poll_error is None:
            logger.warning(
                "cannot reach the model registry (serving %s): %s", served or "no model", message
            )
        self.last_poll_error = LoadError(version=None, error=message[:1000])
        self._metrics.poll_errors.inc()
        return CheckResult(version=served, changed=False, error=message, database_error=True)
