"""Domain exceptions -> HTTP statuses: the only place that mapping lives.

Input problems are found by validation and reported as 422 naming the field; the catch-all
500 handler exists only so an unexpected bug answers JSON (and is logged), not as a way to
turn bad input into an error response.
"""

from __future__ import annotations

import logging

from fastapi import FastAPI, Request, status
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse

from src.api.inference import BatchTooLarge
from src.exceptions import (
    ArtifactIntegrityError,
    ConfigurationError,
    ExplainTooLarge,
    InvalidInputError,
    LoanDefaultError,
    ModelNotFoundError,
    ModelUnavailableError,
    NoDataError,
)

logger = logging.getLogger(__name__)

STATUS_BY_ERROR: tuple[tuple[type[LoanDefaultError], int], ...] = (
    (InvalidInputError, status.HTTP_422_UNPROCESSABLE_CONTENT),
    (ExplainTooLarge, status.HTTP_413_CONTENT_TOO_LARGE),
    (ModelNotFoundError, status.HTTP_404_NOT_FOUND),
    (ModelUnavailableError, status.HTTP_503_SERVICE_UNAVAILABLE),
    (NoDataError, status.HTTP_409_CONFLICT),
    (ArtifactIntegrityError, status.HTTP_500_INTERNAL_SERVER_ERROR),
    (ConfigurationError, status.HTTP_500_INTERNAL_SERVER_ERROR),
)


def status_for(exc: LoanDefaultError) -> int:
    for error_type, code in STATUS_BY_ERROR:
        if isinstance(exc, error_type):
            return code
    return status.HTTP_400_BAD_REQUEST


async def _domain_error(_: Request, exc: Exception) -> JSONResponse:
    if not isinstance(exc, LoanDefaultError):  # registered for LoanDefaultError only
        raise exc
    code = status_for(exc)
    if code >= 500:
        logger.error("%s: %s", type(exc).__name__, exc)
    body: dict[str, str] = {"detail": str(exc)}
    if isinstance(exc, InvalidInputError):
        body["field"] = exc.field
    return JSONResponse(body, status_code=code)


async def _request_validation(_: Request, exc: Exception) -> JSONResponse:
    """FastAPI's own checks (query parameters) in the same shape as every other 422."""
    if not isinstance(exc, RequestValidationError):  # registered for it only
        raise exc
    first = exc.errors()[0] if exc.errors() else {"loc": ("request",), "msg": "invalid"}
    field = ".".join(str(part) for part in first.get("loc", ()) if part != "body") or "body"
    return JSONResponse(
        {"detail": f"{field}: {first.get('msg', 'invalid')}", "field": field},
        status_code=status.HTTP_422_UNPROCESSABLE_CONTENT,
    )


async def _batch_too_large(_: Request, exc: Exception) -> JSONResponse:
    return JSONResponse(
        {"detail": str(exc), "field": "records"}, status_code=status.HTTP_413_CONTENT_TOO_LARGE
    )


async def _unexpected(request: Request, exc: Exception) -> JSONResponse:
    logger.exception("unhandled error on %s %s", request.method, request.url.path, exc_info=exc)
    return JSONResponse(
        {"detail": "internal server error"}, status_code=status.HTTP_500_INTERNAL_SERVER_ERROR
    )


def register_exception_handlers(app: FastAPI) -> None:
    app.add_exception_handler(LoanDefaultError, _domain_error)
    app.add_exception_handler(RequestValidationError, _request_validation)
    app.add_exception_handler(BatchTooLarge, _batch_too_large)
    app.add_exception_handler(Exception, _unexpected)
