"""The long-lived objects of one app instance, kept on ``app.state.services``."""

from __future__ import annotations

import json
import logging
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from src.api.metrics import ServiceMetrics
from src.api.micro_batch import MicroBatcher
from src.api.model_manager import ModelManager
from src.api.prediction_log import PredictionLogWriter

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


def read_fallback_example(path: Path = FALLBACK_EXAMPLE_PATH) -> dict[str, Any] | None:
    """The bundled lending_club request, documented while no model is loaded."""
    try:
        data = json.loads(path.read_text())
    except (OSError, ValueError) as exc:
        logger.debug("no fallback OpenAPI example at %s: %s", path, exc)
        return None
    return data if isinstance(data, dict) else None
