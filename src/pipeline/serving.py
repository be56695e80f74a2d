"""Serving, once for every caller: validated record -> verified model -> answer.

The API, the CLI and the benchmarks all go through this module (and the request check in
``src.pipeline.request_records``), so they load models only through checksum verification
and build the same response items.  HTTP concerns (body parsing, batch ids, status codes)
stay in ``src/api``.
"""

from __future__ import annotations

import datetime as dt
import logging
import math
import time
import uuid
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from config.settings import get_settings
from src.data.tables import CHAMPION
from src.exceptions import ExplainTooLarge, InvalidInputError

if TYPE_CHECKING:  # torch and pandas load only when a model is actually served
    import torch

    from src.data.tables import ModelMetadata
    from src.models.predictor import Predictor

logger = logging.getLogger(__name__)


def configured_device(*, purpose: str | None = None) -> torch.device:
    """``DEVICE`` resolved (``src.models.device``); an entry point names its ``purpose`` to log it.

    ``ConfigurationError`` when it asks for CUDA that is not there: entry points call this
    before loading or writing anything, so such a run fails at once and leaves nothing behind.
    """
    from src.models.device import resolve_device

    name = get_settings().device
    device = resolve_device(name)
    if purpose is not None:
        logger.info("%s on device %s (DEVICE=%s)", purpose, device, name)
    return device


def predictor_for(model: ModelMetadata, *, device: torch.device | None = None) -> Predictor:
    """A predictor for a registry row on ``device`` (default CPU; entry points pass
    :func:`configured_device`); raises ArtifactIntegrityError if the bytes were altered."""
    from src.models.artifact import load_bundle
    from src.models.device import CPU
    from src.models.predictor import Predictor

    bundle = load_bundle(model.artifact, expected_sha256=model.artifact_sha256)
    return Predictor(bundle, device=CPU if device is None else device)


@dataclass(frozen=True)
class Scored:
    items: list[dict[str, Any]]  # response items, in request order
    log_rows: list[dict[str, Any]]  # rows for loan_data.predictions


def score_records(
    predictor: Predictor,
    records: list[dict[str, Any]],
    *,
    request_ids: Sequence[str | None] | None = None,
    application_ids: Sequence[str | None] | None = None,
    explain: bool = False,
    started: float | None = None,
    field_prefix: str = "",
    unseen: list[list[str]] | None = None,
    model_version: str | None = None,
    predict: Callable[[Predictor, list[dict[str, Any]]], tuple[Any, list[list[str]]]] | None = None,
) -> Scored:
    """One forward pass for all validated records (plus bounded chunks when explaining).

    Every item gets a fresh ``prediction_id``: the log's key, never reused whatever id the
    client sent.  ``application_ids`` (validated by ``request_application_id``) are the
    lender's ids, echoed and logged; one may repeat (an application scored again), and the
    monitoring join takes the latest prediction per id and model.  ``unseen`` may be passed
    by a caller that has a faster lookup, and ``predict`` by one that batches forward passes
    across requests (the API's micro-batcher); by default the records are scored alone.
    """
    from src.data.frames import records_to_frame  # pandas-heavy; imported when serving

    settings = get_settings()
    started = time.perf_counter() if started is None else started
    request_ids = request_ids if request_ids is not None else [None] * len(records)
    application_ids = application_ids if application_ids is not None else [None] * len(records)
    n_features = len(predictor.schema.features)
    if explain and len(records) * n_features > settings.max_explain_cells:
        raise ExplainTooLarge(len(records), n_features, settings.max_explain_cells)
    reasons = None
    if explain:  # occlusion reads the original values: the DataFrame path
        frame = records_to_frame(records, predictor.schema)
        scores = predictor.predict_proba(frame)
        found = unseen if unseen is not None else predictor.unseen_categories(frame)
        reasons = predictor.explain(
            frame, top_k=5, max_rows_per_pass=settings.explain_rows_per_pass
        )
    elif predict is not None:
        scores, found = predict(predictor, records)
    else:
        scores, found = predictor.predict_records(records)
    proba = [float(p) for p in scores]
    for i, p in enumerate(proba):
        if not math.isfinite(p):  # defensive: the preprocessor clips, so this should not happen
            where = f"{field_prefix}[{i}]" if field_prefix else "body"
            raise InvalidInputError(where, "the model produced no finite probability for it")
    unseen = unseen if unseen is not None else found
    threshold, version = float(predictor.threshold), model_version or predictor.version
    latency_ms = (time.perf_counter() - started) * 1000.0
    created_at = dt.datetime.now(dt.UTC)
    items, rows = [], []
    for i, p in enumerate(proba):
        label, prediction_id = int(p >= threshold), uuid.uuid4().hex
        item: dict[str, Any] = {
            "prediction_id": prediction_id,
            "prediction": label,
            "probability": p,
            "model_version": version,
            "threshold": threshold,
            "request_id": request_ids[i],
            "application_id": application_ids[i],
            "unseen_categories": list(unseen[i]),
        }
        if reasons is not None:
            item["reasons"] = [_jsonable_reason(r) for r in reasons[i]]
        items.append(item)
        rows.append(
            {
                "prediction_id": prediction_id,
                "request_id": request_ids[i],
                "application_id": application_ids[i],
                "model_version": version,
                "features": records[i],
                "probability": p,
                "prediction": label,
                "latency_ms": latency_ms,
                "created_at": created_at,
                # Every row names both (shadow rows share the log's bulk inserts).
                "role": CHAMPION,
                "champion_prediction_id": None,
            }
        )
    return Scored(items=items, log_rows=rows)


def _jsonable_reason(reason: Mapping[str, Any]) -> dict[str, Any]:
    return {key: _jsonable(value) for key, value in reason.items()}


def _jsonable(value: Any) -> Any:
    """numpy scalars -> Python; NaN (a missing value) -> null, so rendering cannot fail."""
    if hasattr(value, "item") and callable(value.item):
        value = value.item()
    if isinstance(value, float) and not math.isfinite(value):
        return None
    return value
