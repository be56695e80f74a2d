"""What a scoring request carries, read in one dependency: key, query, request id, model, body.

FastAPI resolves every declared dependency and parameter with its own machinery (a nested
solve, then a pydantic validation per header or query parameter).  For ``/predict`` that
cost more CPU than parsing, validating and scoring the record together: py-spy put 38% of the
event loop's time per prediction in ``solve_dependencies`` (one server, 32 clients).  The
scoring routes therefore take the request in :func:`scoring_call`, which applies the same
rules directly and fails with the same 401/422 fields (``query.model``, ``query.explain``,
``header.X-Request-ID``).  Their parameters and key are documented by hand
(:data:`SCORING_OPENAPI`), since FastAPI no longer sees them.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Annotated, Any

from fastapi import Depends, Request

from src.api.deps import (
    LINE_DOC,
    LINE_NAME_MAX,
    LINE_NAME_PATTERN,
    check_predict_key,
    model_for,
    read_body,
    resolve_request_id,
)
from src.api.model_manager import LoadedModel
from src.api.state import Services
from src.exceptions import InvalidInputError

# What pydantic accepts for a bool in a query string (so ``?explain=`` means what it did).
TRUE_WORDS = frozenset({"1", "on", "t", "true", "y", "yes"})
FALSE_WORDS = frozenset({"0", "off", "f", "false", "n", "no"})
# A model line as ``deps.ModelLineParam`` declares it: 1-128 characters, none a control one.
LINE_PATTERN = re.compile(rf"^[^\x00-\x1f\x7f]{{1,{LINE_NAME_MAX}}}\Z")
REQUEST_ID_DOC_PATTERN = r"^[A-Za-z0-9._:\-]{0,64}$"
EXPLAIN_DOC = (
    "add reason codes (occlusion, in bounded chunks); at most MAX_EXPLAIN_CELLS records x "
    "features per request (413 above)"
)


@dataclass(frozen=True)
class ScoringCall:
    """What both scoring routes take: the model captured for this request, the raw body, ids."""

    model: LoadedModel
    services: Services
    raw: bytes
    rid: str
    explain: bool


def explain_flag(value: str | None) -> bool:
    """``?explain=``: absent is False; otherwise one of pydantic's boolean words."""
    if value is None:
        return False
    word = value.lower()
    if word in TRUE_WORDS:
        return True
    if word in FALSE_WORDS:
        return False
    raise InvalidInputError("query.explain", "expected a boolean: true/false, 1/0, yes/no, on/off")


def model_line(value: str | None) -> str | None:
    """``?model=``: absent is the service's own line; else a usable line name."""
    if value is None or LINE_PATTERN.match(value):
        return value
    raise InvalidInputError("query.model", "expected 1-128 characters and no control characters")


async def scoring_call(request: Request) -> ScoringCall:
    """The key first (401 before anything is read), then the query, the id, the model, the body.

    The model is captured once, so a hot swap cannot split a request between two models.
    """
    headers, query = request.headers, request.query_params
    check_predict_key(headers.get("x-api-key"))
    line = model_line(query.get("model"))
    explain = explain_flag(query.get("explain"))
    rid = resolve_request_id(headers.get("x-request-id"))
    services: Services = request.app.state.services
    model = await model_for(services, line)
    return ScoringCall(model, services, await read_body(request), rid, explain)


Call = Annotated[ScoringCall, Depends(scoring_call)]


def _parameter(name: str, where: str, schema: dict[str, Any], doc: str) -> dict[str, Any]:
    return {"name": name, "in": where, "required": False, "schema": schema, "description": doc}


SCORING_OPENAPI: dict[str, Any] = {
    "parameters": [
        _parameter("explain", "query", {"type": "boolean", "default": False}, EXPLAIN_DOC),
        _parameter(
            "model",
            "query",
            {
                "type": "string",
                "minLength": 1,
                "maxLength": LINE_NAME_MAX,
                "pattern": LINE_NAME_PATTERN,
            },
            LINE_DOC,
        ),
        _parameter(
            "X-Request-ID",
            "header",
            {"type": "string", "pattern": REQUEST_ID_DOC_PATTERN},
            "echoed and logged; a uuid4 is generated when absent",
        ),
    ],
    # The key is optional unless PREDICT_API_KEY is set (openapi.py adds the empty option).
    "security": [{"APIKeyHeader": []}],
}
