"""Models of the *other* model lines, for ``/predict?model=NAME``.

The default line (``serving_line(preferred=DATA_SOURCE)``) is ``ModelManager.current``.  Any
other line is loaded on its first request, verified like the default one, cached, and kept
up to date by the same poller thread (``refresh``): a newly activated model of a cached line
is loaded off the request path and published by one dict assignment, so a request that has
captured a model finishes on it.  A failed load keeps the previous model of that line; the
same failing artifact is not retried on every request or poll.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from sqlalchemy import Engine

from src.data import repository as repo
from src.data.database import session_scope
from src.data.tables import ModelMetadata
from src.exceptions import ModelNotFoundError, ModelUnavailableError
from src.utils.logging import redact

if TYPE_CHECKING:
    from src.api.model_manager import LoadedModel
    from src.models.predictor import Predictor

logger = logging.getLogger(__name__)


class LineModels:
    """``{line: LoadedModel}`` for lines requested by name, refreshed by the poller."""

    def __init__(
        self,
        *,
        engine: Callable[[], Engine],
        loader: Callable[[ModelMetadata], Predictor],
        summary: Callable[[ModelMetadata], dict[str, Any]],
    ) -> None:
        self._engine = engine
        self._loader = loader
        self._summary = summary
        self._models: dict[str, LoadedModel] = {}
        self._failed: dict[str, tuple[tuple[str, str], str]] = {}  # line -> (key, error)
        self._lock = threading.Lock()  # one load at a time; readers never take it

    def cached(self, line: str) -> LoadedModel | None:
        """The line's model if already loaded (no I/O: safe on the event loop)."""
        return self._models.get(line)

    def lines(self) -> dict[str, str]:
        """``{line: served version}`` of the cached lines."""
        return {line: loaded.version for line, loaded in self._models.items()}

    def get(self, line: str) -> LoadedModel:
        """The active model of ``line``, loading it on first use (blocking: call off-loop).

        Raises ``ModelNotFoundError`` (404) for a line that does not exist or has no active
        model, ``ModelUnavailableError`` (503) when it cannot be loaded now.
        """
        loaded = self._models.get(line)
        if loaded is not None:
            return loaded
        with self._lock:
            loaded = self._models.get(line)
            if loaded is not None:  # another request loaded it meanwhile
                return loaded
            loaded = self._update(line, first=True)
        assert loaded is not None  # _update(first=True) raises instead of returning None
        return loaded

    def refresh(self) -> None:
        """Poller hook: reload every cached line whose active model changed."""
        for line in list(self._models):
            try:
                with self._lock:
                    self._update(line, first=False)
            except Exception as exc:  # the poller must survive anything
                logger.warning("cannot refresh model line %r: %s", line, redact(str(exc))[:300])

    def _update(self, line: str, *, first: bool) -> LoadedModel | None:
        """Load ``line``'s active model if it differs from the cached one; return what serves."""
        current = self._models.get(line)
        try:
            with session_scope(self._engine()) as session:
                row = repo.get_active_model(session, source=line, with_artifact=False)
                if row is None:
                    if first:
                        raise _unknown_line(session, line)
                    return current  # deactivated: keep serving what was served
                summary = self._summary(row)
        except ModelNotFoundError:
            raise
        except Exception as exc:  # registry unreachable
            if first:
                message = redact(
                    f"{type(exc).__name__}: {str(exc).splitlines()[0] if str(exc) else ''}"
                )
                raise ModelUnavailableError(
                    f"cannot reach the model registry to load model line {line!r}: {message}"
                ) from None
            raise
        key = (summary["model_version"], summary["artifact_sha256"])
        if current is not None and (current.version, current.sha256) == key:
            return current
        failed = self._failed.get(line)
        if failed is not None and failed[0] == key:
            if first:
                raise ModelUnavailableError(_load_failed(line, key[0], failed[1]))
            return current
        return self._load(line, key, summary, current, first=first)

    def _load(
        self,
        line: str,
        key: tuple[str, str],
        summary: dict[str, Any],
        current: LoadedModel | None,
        *,
        first: bool,
    ) -> LoadedModel | None:
        from src.api.model_manager import LoadedModel

        try:
            with session_scope(self._engine()) as session:
                row = repo.get_model(session, version=key[0])
            loaded = LoadedModel(
                predictor=self._loader(row), version=key[0], sha256=key[1], info=summary
            )
        except Exception as exc:  # corrupt artifact, failed checksum, registry gone
            message = redact(f"{type(exc).__name__}: {exc}")[:1000]
            self._failed[line] = (key, message)
            logger.error("cannot load model %s of line %r: %s", key[0], line, message)
            if first:
                raise ModelUnavailableError(_load_failed(line, key[0], message)) from None
            return current
        self._models[line] = loaded  # the atomic swap for this line
        self._failed.pop(line, None)
        logger.info("line %r: serving model %s", line, key[0])
        return loaded


def _unknown_line(session: Any, line: str) -> ModelNotFoundError:
    """404 naming the lines a client may ask for (those with an active model)."""
    active = sorted(repo.active_versions(session))
    known = repo.known_sources(session)
    shown = line if len(line) <= 64 else line[:64] + "..."
    if line in known:
        return ModelNotFoundError(
            f"model line {shown!r} has no active model; lines with one: {active}"
        )
    return ModelNotFoundError(
        f"unknown model line {shown!r}; known lines: {known} (with an active model: {active})"
    )


def _load_failed(line: str, version: str, error: str) -> str:
    return f"model {version} of line {line!r} cannot be loaded: {error}"
