"""The long-lived objects of one app instance, kept on ``app.state.services``."""

from __future__ import annotations

import json
import logging
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from src.api.metrics import ServiceMetrics
from src.api.micro_batch import MicroBatcher
from src.api.model_manager import LoadedModel, ModelManager
from src.api.prediction_log import PredictionLogWriter
from src.api.shadow import ShadowScorer

logger = logging.getLogger(__name__)

FALLBACK_EXAMPLE_PATH = Path(__file__).resolve().parents[2] / "examples" / "request.json"


@dataclass
class Services:
    """Created with the app (no I/O); started and stopped by the lifespan."""

    metrics: ServiceMetrics
    models: ModelManager
    log: PredictionLogWriter
    fallback_example: dict[str, Any] | None = None
    batcher: MicroBatcher | None = None  # None: every request scored on its own
    shadow: ShadowScorer | None = None  # None: no shadow scoring in this app

    def offer_shadow(
        self, champion: LoadedModel, records: list[dict[str, Any]], answers: list[dict[str, Any]]
    ) -> None:
        """After the answer is built: offer its records to the shadow (never blocks)."""
        if self.shadow is not None:
            self.shadow.submit(champion, records, answers)


def read_fallback_example(path: Path = FALLBACK_EXAMPLE_PATH) -> dict[str, Any] | None:
    """The bundled lending_club request, documented while no model is loaded."""
    try:
        data = json.loads(path.read_text())
    except (OSError, ValueError) as exc:
        logger.debug("no fallback OpenAPI example at %s: %s", path, exc)
        return None
    return data if isinstance(data, dict) else None
