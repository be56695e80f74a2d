"""The lender's application id: one rule for predictions and for recorded outcomes.

A prediction carries the id it was requested with, and an outcome is later joined to it by
that id alone, so both sides must accept exactly the same strings: 1 to 64 characters (the
width of ``predictions.application_id`` and ``outcomes.application_id``) and no control
characters (a NUL cannot be stored in PostgreSQL text, and a tab or newline in an id is a
copy-paste accident that would never match its outcome).  No trimming or case folding: the
id is the lender's, compared byte for byte.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Any

from src.exceptions import InvalidInputError

APPLICATION_ID = "application_id"
MAX_APPLICATION_ID_LENGTH = 64
# The same rule as JSON Schema (OpenAPI), so a fuzzer's schema-valid id is accepted here.
APPLICATION_ID_PATTERN = "^[^\\u0000-\\u001f\\u007f-\\u009f]{1,64}$"
_CONTROL = re.compile("[\x00-\x1f\x7f-\x9f]")


def application_id_problem(value: Any) -> str | None:
    """Why ``value`` cannot be an application id, or None when it can."""
    if not isinstance(value, str):
        return f"expected a string of 1 to {MAX_APPLICATION_ID_LENGTH} characters, got " + (
            "null" if value is None else type(value).__name__
        )
    if not value:
        return "is empty"
    if len(value) > MAX_APPLICATION_ID_LENGTH:
        return f"is {len(value)} characters long; at most {MAX_APPLICATION_ID_LENGTH} allowed"
    if _CONTROL.search(value):
        return "contains a control character (tab, newline, NUL ...)"
    return None


def request_application_id(request: Mapping[str, Any], *, prefix: str = "") -> str | None:
    """The optional top-level ``application_id`` of a prediction request (None when absent).

    Null counts as absent, like a null nullable feature; anything else that is not a valid
    id is an ``InvalidInputError`` naming the field (``records[3].application_id``).
    """
    value = request.get(APPLICATION_ID)
    if value is None:
        return None
    problem = application_id_problem(value)
    if problem is not None:
        raise InvalidInputError(f"{prefix}{APPLICATION_ID}", problem)
    return str(value)
