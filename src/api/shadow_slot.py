"""Which model shadows the served line, kept loaded by the model poller.

Each poll asks the registry for the line's shadow target (``shadow_repository.shadow_target``:
the version ``loan-default shadow`` named, else with ``SHADOW_MODE=on`` the newest candidate)
and, when it changed, loads and verifies it in the poller thread, then publishes it on the
:class:`~src.api.shadow.ShadowScorer` by one assignment.  A failed load leaves no shadow
(the champion is untouched) and is not retried for the same artifact on every poll.

When the champion's new version is the loaded shadow's, ``ModelManager`` takes this already
verified predictor as the champion instead of loading it again: promotion without a reload gap.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from sqlalchemy import Engine

from config.settings import get_settings
from src.data import repository as repo
from src.data import shadow_repository as shadows
from src.data.database import session_scope
from src.data.tables import ModelMetadata
from src.utils.logging import redact

if TYPE_CHECKING:
    from src.api.model_manager import LoadedModel
    from src.api.shadow import ShadowScorer
    from src.models.predictor import Predictor

logger = logging.getLogger(__name__)


class ShadowSlot:
    """The poller's side of shadow scoring: decide, load, publish on ``scorer.model``."""

    def __init__(
        self,
        *,
        scorer: ShadowScorer,
        engine: Callable[[], Engine],
        loader: Callable[[ModelMetadata], Predictor],
        summary: Callable[[ModelMetadata], dict[str, Any]],
    ) -> None:
        self.scorer = scorer
        self._engine = engine
        self._loader = loader
        self._summary = summary
        self._failed: tuple[str, str] | None = None
        self.last_error: str | None = None

    @property
    def loaded(self) -> LoadedModel | None:
        return self.scorer.model

    def refresh(self, line: str | None) -> None:
        """Poller hook: load the line's shadow target if it changed (or drop the shadow)."""
        settings = get_settings()
        if line is None or settings.shadow_share <= 0.0:
            self._publish(None)
            return
        with session_scope(self._engine()) as session:
            row = shadows.shadow_target(
                session, source=line, newest_candidate=settings.shadow_mode == "on"
            )
            summary = self._summary(row) if row is not None else None
        if summary is None:
            self._publish(None)
            return
        key = (summary["model_version"], summary["artifact_sha256"])
        current = self.scorer.model
        if current is not None and (current.version, current.sha256) == key:
            return
        if self._failed == key:
            return
        self._load(key, summary)

    def _load(self, key: tuple[str, str], summary: dict[str, Any]) -> None:
        from src.api.model_manager import LoadedModel

        try:
            with session_scope(self._engine()) as session:
                row = repo.get_model(session, version=key[0])
            loaded = LoadedModel(
                predictor=self._loader(row), version=key[0], sha256=key[1], info=summary
            )
        except Exception as exc:  # corrupt artifact, registry gone: no shadow, champion intact
            message = redact(f"{type(exc).__name__}: {exc}")[:1000]
            self._failed, self.last_error = key, message
            logger.error("cannot load shadow model %s: %s", key[0], message)
            self._publish(None)
            return
        self._failed, self.last_error = None, None
        self._publish(loaded)

    def _publish(self, loaded: LoadedModel | None) -> None:
        before = self.scorer.model
        self.scorer.model = loaded  # the atomic swap; a batch in flight keeps its capture
        if (before and before.version) != (loaded and loaded.version):
            logger.info(
                "shadow model: %s (previously %s)",
                loaded.version if loaded else "none",
                before.version if before else "none",
            )
