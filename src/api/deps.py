"""FastAPI dependencies: services, the model a request is served with, keys, body, request id.

They are ``async`` because none of them blocks: a sync dependency would cost a threadpool hop
per request on the hot path.
"""

from __future__ import annotations

import asyncio
import hmac
import re
import uuid
from typing import Annotated

from fastapi import Depends, HTTPException, Query, Request, Security, status
from fastapi.security import APIKeyHeader
from pydantic import SecretStr
from starlette.requests import ClientDisconnect

from config.settings import get_settings
from src.api.model_manager import LoadedModel
from src.api.state import Services
from src.exceptions import InvalidInputError

api_key_header = APIKeyHeader(
    name="X-API-Key",
    auto_error=False,
    description="ADMIN_API_KEY for /admin/*, PREDICT_API_KEY for /predict* when it is set",
)
# What may travel to the log table (String(64)) and back in a header.
REQUEST_ID_PATTERN = re.compile(r"^[A-Za-z0-9._:\-]{1,64}$")


async def get_services(request: Request) -> Services:
    return request.app.state.services


ServicesDep = Annotated[Services, Depends(get_services)]


# No control characters (PostgreSQL refuses NUL in a query parameter: that would surface as
# "registry unreachable" instead of a 422).  Shared with scoring_request, which reads ?model=.
LINE_NAME_PATTERN = r"^[^\x00-\x1f\x7f]+$"
LINE_NAME_MAX = 128
LINE_DOC = (
    "model line (data source) whose active model answers; default: the service's default "
    "line (DATA_SOURCE). Unknown line: 404 naming the known ones."
)
ModelLineParam = Annotated[
    str | None,
    Query(
        alias="model",
        min_length=1,
        max_length=LINE_NAME_MAX,
        pattern=LINE_NAME_PATTERN,
        description=LINE_DOC,
    ),
]


async def current_model(services: ServicesDep, line: ModelLineParam = None) -> LoadedModel:
    """The model this request is answered with, captured once (a swap cannot split a request)."""
    return await model_for(services, line)


async def model_for(services: Services, line: str | None) -> LoadedModel:
    """The active model of ``line`` (default: the service's own line), or 503 before any.

    A named line that is not cached yet is loaded in a worker thread (never on the loop).
    """
    models = services.models
    if line is not None and line != models.line:
        cached = models.lines.cached(line)
        return cached if cached is not None else await asyncio.to_thread(models.lines.get, line)
    loaded = models.current
    if loaded is None:
        raise HTTPException(
            status.HTTP_503_SERVICE_UNAVAILABLE,
            "no model is loaded yet; train and activate one, then retry",
        )
    return loaded


ModelDep = Annotated[LoadedModel, Depends(current_model)]


def _matches(given: str | None, expected: SecretStr) -> bool:
    return given is not None and hmac.compare_digest(
        given.encode(), expected.get_secret_value().encode()
    )


def check_predict_key(key: str | None) -> None:
    """401 unless PREDICT_API_KEY is unset or ``key`` (the X-API-Key header) matches it."""
    expected = get_settings().predict_api_key
    if expected is None or not expected.get_secret_value():
        return
    if not _matches(key, expected):
        raise HTTPException(
            status.HTTP_401_UNAUTHORIZED,
            "missing or invalid X-API-Key header",
            headers={"WWW-Authenticate": "X-API-Key"},
        )


async def require_admin_key(key: Annotated[str | None, Security(api_key_header)]) -> None:
    """Admin endpoints are closed (403) unless ADMIN_API_KEY is set, then need the key (401)."""
    expected = get_settings().admin_api_key
    if expected is None or not expected.get_secret_value():
        raise HTTPException(
            status.HTTP_403_FORBIDDEN,
            "admin endpoints are disabled: set ADMIN_API_KEY to enable them",
        )
    if not _matches(key, expected):
        raise HTTPException(
            status.HTTP_401_UNAUTHORIZED,
            "missing or invalid X-API-Key header",
            headers={"WWW-Authenticate": "X-API-Key"},
        )


async def read_body(request: Request) -> bytes:
    """The raw body, refused with 413 as soon as it exceeds MAX_REQUEST_BYTES.

    The size middleware already rejects a too-large Content-Length; this also covers chunked
    bodies that announce no length.  Parsing happens later, in the worker thread.
    """
    limit = get_settings().max_request_bytes
    chunks: list[bytes] = []
    size = 0
    try:
        async for chunk in request.stream():
            size += len(chunk)
            if size > limit:
                raise HTTPException(
                    status.HTTP_413_CONTENT_TOO_LARGE,
                    f"request body exceeds MAX_REQUEST_BYTES ({limit} bytes)",
                )
            chunks.append(chunk)
    except ClientDisconnect:  # nobody to answer; not a server error worth a traceback
        raise HTTPException(status.HTTP_400_BAD_REQUEST, "client disconnected") from None
    return b"".join(chunks)


def resolve_request_id(x_request_id: str | None) -> str:
    """``request_id`` without FastAPI: 422 names the header when it cannot be stored."""
    if x_request_id is None or not x_request_id.strip():
        return str(uuid.uuid4())
    if not REQUEST_ID_PATTERN.match(x_request_id):
        raise InvalidInputError(
            "header.X-Request-ID", "expected 1-64 characters from A-Z a-z 0-9 . _ : -"
        )
    return x_request_id
