"""Turning a request in the reference shape into a validated feature record.

Shared by the CLI and the API so both reject the same inputs with the same
messages, each naming the offending field.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from typing import Any

from src.data.feature_schema import FeatureSchema
from src.exceptions import InvalidInputError

CATEGORICAL = "categorical_features"
NUMERICAL = "numerical_features"


def request_to_record(
    request: Mapping[str, Any], *, schema: FeatureSchema, prefix: str = ""
) -> dict[str, Any]:
    """Validate ``{"categorical_features": {...}, "numerical_features": {...}}`` against ``schema``.

    Missing values (null or absent) are accepted only for features the model was
    trained with missing values for (``schema.nullable``).
    """
    if not isinstance(request, Mapping):
        raise InvalidInputError(prefix or "body", "expected a JSON object")
    extra = set(request) - {CATEGORICAL, NUMERICAL}
    if extra:
        raise InvalidInputError(
            f"{prefix}{sorted(extra)[0]}",
            f"unknown top-level field; expected {CATEGORICAL!r} and {NUMERICAL!r}",
        )
    record: dict[str, Any] = {}
    sections = (
        (CATEGORICAL, schema.categorical, _categorical_value),
        (NUMERICAL, schema.numerical, _numerical_value),
    )
    for section, expected, convert in sections:
        values = request.get(section, {})
        if values is None:
            values = {}
        if not isinstance(values, Mapping):
            raise InvalidInputError(f"{prefix}{section}", "expected an object of feature: value")
        for name in values:
            if name not in expected:
                other = schema.numerical if section == CATEGORICAL else schema.categorical
                hint = (
                    f"it is a {'numerical' if section == CATEGORICAL else 'categorical'} feature"
                    if name in other
                    else f"expected one of {list(expected)}"
                )
                raise InvalidInputError(f"{prefix}{section}.{name}", f"unknown feature; {hint}")
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
