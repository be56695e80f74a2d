"""Request -> validated record: the one check every caller's input goes through.

The API (single and batch), the CLI and the batch-scoring tests all call
:func:`request_to_record`, so they refuse the same inputs with the same messages, each naming
the offending field (``features.annual_inc: expected a number``).  Pure: no model, no I/O.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from typing import Any

from src.data.application_ids import APPLICATION_ID, request_application_id
from src.data.feature_schema import FeatureSchema
from src.exceptions import InvalidInputError

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
