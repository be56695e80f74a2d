"""Serving, once for every caller: request -> validated record -> verified model -> answer.

The API, the CLI and the benchmarks all go through this module, so they refuse the same
inputs with the same messages (each naming the offending field), load models only through
checksum verification, and build the same response items.  HTTP concerns (body parsing,
batch ids, status codes) stay in ``src/api``.
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
from src.data.application_ids import APPLICATION_ID, request_application_id
from src.data.feature_schema import FeatureSchema
from src.data.tables import CHAMPION
from src.exceptions import ExplainTooLarge, InvalidInputError

if TYPE_CHECKING:  # torch and pandas load only when a model is actually served
    import torch

    from src.data.tables import ModelMetadata
    from src.models.predictor import Predictor

logger = logging.getLogger(__name__)

CATEGORICAL = "categorical_features"
NUMERICAL = "numerical_features"


def request_to_record(
    request: Mapping[str, Any], *, schema: FeatureSchema, prefix: str = ""
) -> dict[str, Any]:
    """Validate ``{"categorical_features": {...}, "numerical_features": {...}}`` against ``schema``.

    Missing values (null or absent) are accepted only for features the model was
    trained with missing values for (``schema.nullable``).  An optional top-level
    ``application_id`` is checked here too but is not part of the returned feature record:
    read it with ``request_application_id``.
    """
    if not isinstance(request, Mapping):
        raise InvalidInputError(prefix or "body", "expected a JSON object")
    _check_layout(request, schema, prefix)
    request_application_id(request, prefix=prefix)
    sections = (
        (CATEGORICAL, schema.categorical, _categorical_value),
        (NUMERICAL, schema.numerical, _numerical_value),
    )
    found: list[tuple[str, tuple[str, ...], Any, Mapping[str, Any]]] = []
    for section, expected, convert in sections:
        values = request.get(section, {})
        if values is None:
            values = {}
        if not isinstance(values, Mapping):
            raise InvalidInputError(f"{prefix}{section}", "expected an object of feature: value")
        found.append((section, expected, convert, values))
    # Every misplaced or unknown name first: a categorical feature sent under numerical_features
    # must be reported where it was sent, not as "missing" from categorical_features.
    for section, expected, _, values in found:
        for name in values:
            if name not in expected:
                raise InvalidInputError(
                    f"{prefix}{section}.{name}", _misplaced(name, section, schema, expected)
                )
    record: dict[str, Any] = {}
    for section, expected, convert, values in found:
        for name in expected:
            field = f"{prefix}{section}.{name}"
            value = values.get(name)
            if value is None:
                if name not in schema.nullable:
                    raise InvalidInputError(field, "required feature is missing or null")
                record[name] = None
                continue
            record[name] = convert(field, value)
    return record


def _check_layout(request: Mapping[str, Any], schema: FeatureSchema, prefix: str) -> None:
    """Refuse top-level keys other than the sections and the id, saying what the body looks like.

    A flat body (``{"grade": "B", "loan_amnt": 1000, ...}``) is the commonest mistake; naming
    only its first key as "unknown" hides that the whole shape is wrong.
    """
    extra = sorted(str(k) for k in set(request) - {CATEGORICAL, NUMERICAL, APPLICATION_ID})
    if not extra:
        return
    features = [k for k in extra if k in schema.features]
    if features or not (CATEGORICAL in request or NUMERICAL in request):
        where = prefix.rstrip(".") or "body"
        hint = f" ({_names(features)} are feature names)" if features else ""
        raise InvalidInputError(
            where,
            f"body must nest features under {CATEGORICAL!r} and {NUMERICAL!r}; "
            f"got top-level keys {_names(extra)}{hint}",
        )
    raise InvalidInputError(
        f"{prefix}{extra[0]}",
        f"unknown top-level field(s) {_names(extra)}; expected {CATEGORICAL!r}, {NUMERICAL!r} "
        f"and optionally {APPLICATION_ID!r}",
    )


def _misplaced(name: str, section: str, schema: FeatureSchema, expected: tuple[str, ...]) -> str:
    """Why ``name`` does not belong in ``section``: the other section's feature, or unknown."""
    if section == NUMERICAL and name in schema.categorical:
        return f"feature {name!r} is categorical but was sent under {NUMERICAL}"
    if section == CATEGORICAL and name in schema.numerical:
        return f"feature {name!r} is numerical but was sent under {CATEGORICAL}"
    return f"unknown feature; expected one of {list(expected)}"


def _names(keys: list[str], limit: int = 10) -> str:
    """A bounded listing of client-chosen keys (each clipped, at most ``limit`` shown)."""
    shown = [k if len(k) <= 40 else k[:40] + "..." for k in keys[:limit]]
    more = f" ... ({len(keys)} in all)" if len(keys) > limit else ""
    return f"{shown}{more}"


def _categorical_value(field: str, value: Any) -> str:
    if isinstance(value, bool) or not isinstance(value, str | int):
        raise InvalidInputError(field, f"expected a string category, got {type(value).__name__}")
    text = str(value)
    if len(text) > 256:
        raise InvalidInputError(field, "category value longer than 256 characters")
    return text


def _numerical_value(field: str, value: Any) -> float:
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise InvalidInputError(field, f"expected a number, got {type(value).__name__}")
    try:
        number = float(value)
    except OverflowError as exc:
        raise InvalidInputError(field, "number is too large") from exc
    if not math.isfinite(number):
        raise InvalidInputError(field, "expected a finite number, got NaN or infinity")
    return number


def example_request(reference: Mapping[str, Any], *, schema: FeatureSchema) -> dict[str, Any]:
    """A valid request built from the model's training medians/modes (for docs and OpenAPI)."""
    return {
        CATEGORICAL: {name: reference[name] for name in schema.categorical},
        NUMERICAL: {name: reference[name] for name in schema.numerical},
    }


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
