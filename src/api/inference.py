"""Request bodies -> validated records -> one vectorised forward pass -> response items.

Runs in a worker thread (sync routes), so JSON parsing and inference never block the event
loop.  Everything a client can send is checked here or by ``request_to_record`` and becomes
an ``InvalidInputError`` naming the field (HTTP 422), never a 500.
"""

from __future__ import annotations

import json
import re
import uuid
from collections.abc import Callable, Mapping
from typing import Any

from src.api.micro_batch import MicroBatcher, Scores
from src.api.model_manager import LoadedModel
from src.data.application_ids import request_application_id
from src.data.feature_schema import FeatureSchema
from src.exceptions import InvalidInputError
from src.pipeline.request_records import request_to_record
from src.pipeline.serving import Scored, score_records

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


def single_record(payload: Any, schema: FeatureSchema) -> tuple[dict[str, Any], str | None]:
    """The validated feature record and the optional ``application_id`` of one request."""
    record = request_to_record(payload, schema=schema)
    return record, request_application_id(payload)


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


def batch_records(
    payloads: list[Any], schema: FeatureSchema
) -> tuple[list[dict[str, Any]], list[str | None]]:
    """Validated feature records and their application ids (None where a record has none)."""
    records = [
        request_to_record(p, schema=schema, prefix=f"{RECORDS}[{i}].")
        for i, p in enumerate(payloads)
    ]
    return records, [request_application_id(p) for p in payloads]


def item_request_ids(batch_id: str, count: int) -> list[str]:
    """Per-record client ids ``<batch id>-<index>``: a correlation key, not the log's key."""
    ids = [f"{batch_id}-{i}" for i in range(count)]
    if ids and len(ids[-1]) > 64:
        ids = [str(uuid.uuid5(_BATCH_ID_NAMESPACE, i)) for i in ids]
    return ids


def score(
    model: LoadedModel,
    records: list[dict[str, Any]],
    request_ids: list[str],
    *,
    application_ids: list[str | None],
    explain: bool,
    started: float,
    field_prefix: str = "",
    batcher: MicroBatcher | None = None,
    scores: Scores | None = None,
) -> Scored:
    """The shared scoring, with the served model's precomputed category sets; concurrent
    requests share forward passes through ``batcher``, and an async caller that awaited
    them already passes its ``scores``."""
    predict: Callable[[Any, Any], Scores] | None = batcher.predict if batcher else None
    if scores is not None:
        given = scores
        predict = lambda _predictor, _records: given  # noqa: E731
    return score_records(
        model.predictor,
        records,
        request_ids=request_ids,
        application_ids=application_ids,
        explain=explain,
        started=started,
        field_prefix=field_prefix,
        unseen=model.unseen_categories(records),
        model_version=model.version,
        predict=predict,
    )
