"""Request bodies -> validated records -> one vectorised forward pass -> response items.

Runs in a worker thread (sync routes), so JSON parsing and inference never block the event
loop.  Everything a client can send is checked here or by ``request_to_record`` and becomes
an ``InvalidInputError`` naming the field (HTTP 422), never a 500.
"""

from __future__ import annotations

import datetime as dt
import json
import math
import re
import time
import uuid
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from config.settings import get_settings
from src.api.model_manager import LoadedModel
from src.data.feature_schema import FeatureSchema
from src.exceptions import ExplainTooLarge, InvalidInputError
from src.pipeline.prediction import request_to_record

RECORDS = "records"
_BATCH_ID_NAMESPACE = uuid.UUID("6f1d0b8e-52a4-4c55-9a57-0c3b1d7f5e21")


def parse_json(raw: bytes) -> Any:
    """Decode a body; empty, non-JSON, non-UTF-8 or absurdly nested input -> 422.

    NaN/Infinity literals decode to floats here and are then refused by the feature
    validation with the name of the field that held them.  Strings with an unpaired UTF-16
    surrogate (``"\\ud800"``) or a NUL (``"\\u0000"``) are refused too: the first cannot be
    encoded back to UTF-8 (echoing it would fail), PostgreSQL's JSONB refuses the second (the
    prediction could not be logged).
    """
    if not raw.strip():
        raise InvalidInputError("body", "request body is empty; expected a JSON object")
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError:
        raise InvalidInputError("body", "not valid UTF-8 (JSON must be UTF-8)") from None
    try:
        payload = json.loads(text)
    except (ValueError, RecursionError) as exc:  # JSONDecodeError, int too long, nesting
        raise InvalidInputError("body", f"not valid JSON: {str(exc)[:200]}") from None
    if _SUSPECT_ESCAPE.search(raw):  # rare: only then walk the document
        where = _bad_string(payload, "")
        if where is not None:
            raise InvalidInputError(
                where or "body", "string with a NUL character or an unpaired UTF-16 surrogate"
            )
    return payload


_SUSPECT_ESCAPE = re.compile(rb"\\u(?:[dD][89a-fA-F]|0000)")


def _bad_string(value: Any, path: str) -> str | None:
    """Path (``records[2].categorical_features.term``) of the first string we cannot keep."""
    items: Any = ()
    if isinstance(value, str):
        try:
            value.encode("utf-8")
        except UnicodeEncodeError:
            return path
        return path if "\x00" in value else None
    if isinstance(value, dict):
        items = ((f"{path}.{k}" if path else str(k), k, v) for k, v in value.items())
    elif isinstance(value, list):
        items = ((f"{path}[{i}]", None, v) for i, v in enumerate(value))
    for child, key, item in items:
        if key is not None and _bad_string(key, child) is not None:
            return path or "body"
        found = _bad_string(item, child)
        if found is not None:
            return found
    return None


def single_record(payload: Any, schema: FeatureSchema) -> dict[str, Any]:
    return request_to_record(payload, schema=schema)


def batch_payloads(payload: Any, *, max_size: int) -> list[Any]:
    """The ``records`` list of a batch body; raises ``BatchTooLarge`` above ``max_size``."""
    if not isinstance(payload, Mapping):
        raise InvalidInputError("body", 'expected a JSON object {"records": [...]}')
    extra = sorted(set(payload) - {RECORDS})
    if extra:
        raise InvalidInputError(extra[0], f"unknown top-level field; expected {RECORDS!r}")
    records = payload.get(RECORDS)
    if not isinstance(records, list):
        raise InvalidInputError(RECORDS, "expected a list of prediction requests")
    if not records:
        raise InvalidInputError(RECORDS, "expected at least one record")
    if len(records) > max_size:
        raise BatchTooLarge(len(records), max_size)
    return records


class BatchTooLarge(Exception):
    """More records than MAX_BATCH_SIZE (HTTP 413)."""

    def __init__(self, size: int, limit: int) -> None:
        super().__init__(f"{RECORDS}: {size} records exceed MAX_BATCH_SIZE ({limit})")
        self.size, self.limit = size, limit


def batch_records(payloads: list[Any], schema: FeatureSchema) -> list[dict[str, Any]]:
    return [
        request_to_record(p, schema=schema, prefix=f"{RECORDS}[{i}].")
        for i, p in enumerate(payloads)
    ]


def item_request_ids(batch_id: str, count: int) -> list[str]:
    """Per-record client ids ``<batch id>-<index>``: a correlation key, not the log's key."""
    ids = [f"{batch_id}-{i}" for i in range(count)]
    if ids and len(ids[-1]) > 64:
        ids = [str(uuid.uuid5(_BATCH_ID_NAMESPACE, i)) for i in ids]
    return ids


@dataclass(frozen=True)
class Scored:
    items: list[dict[str, Any]]  # response items, in request order
    log_rows: list[dict[str, Any]]  # rows for loan_data.predictions


def score(
    model: LoadedModel,
    records: list[dict[str, Any]],
    request_ids: list[str],
    *,
    explain: bool,
    started: float,
    field_prefix: str = "",
) -> Scored:
    """One forward pass for all records (plus bounded chunks of occlusions when explaining)."""
    from src.data.processing import records_to_frame  # pandas-heavy; imported when serving

    predictor = model.predictor
    settings = get_settings()
    n_features = len(predictor.schema.features)
    if explain and len(records) * n_features > settings.max_explain_cells:
        raise ExplainTooLarge(len(records), n_features, settings.max_explain_cells)
    frame = records_to_frame(records, predictor.schema)
    proba = [float(p) for p in predictor.predict_proba(frame)]
    for i, p in enumerate(proba):
        if not math.isfinite(p):  # defensive: the preprocessor clips, so this should not happen
            where = f"{field_prefix}[{i}]" if field_prefix else "body"
            raise InvalidInputError(where, "the model produced no finite probability for it")
    unseen = model.unseen_categories(records)
    reasons = (
        predictor.explain(frame, top_k=5, max_rows_per_pass=settings.explain_rows_per_pass)
        if explain
        else None
    )
    threshold = float(predictor.threshold)
    latency_ms = (time.perf_counter() - started) * 1000.0
    created_at = dt.datetime.now(dt.UTC)
    items, rows = [], []
    for i, p in enumerate(proba):
        label = int(p >= threshold)
        prediction_id = uuid.uuid4().hex  # the log's key: never reused, whatever the client sends
        item: dict[str, Any] = {
            "prediction_id": prediction_id,
            "prediction": label,
            "probability": p,
            "model_version": model.version,
            "threshold": threshold,
            "request_id": request_ids[i],
            "unseen_categories": list(unseen[i]),
        }
        if reasons is not None:
            item["reasons"] = [_jsonable_reason(r) for r in reasons[i]]
        items.append(item)
        rows.append(
            {
                "prediction_id": prediction_id,
                "request_id": request_ids[i],
                "model_version": model.version,
                "features": records[i],
                "probability": p,
                "prediction": label,
                "latency_ms": latency_ms,
                "created_at": created_at,
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
