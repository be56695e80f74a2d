"""``POST /admin/reload``: check the registry now instead of waiting for the next poll."""

from __future__ import annotations

from fastapi import APIRouter, Depends, status
from fastapi.responses import JSONResponse

from src.api.deps import ServicesDep, require_admin_key
from src.api.schemas import ReloadResponse, error_responses

router = APIRouter(prefix="/admin", tags=["admin"], dependencies=[Depends(require_admin_key)])


@router.post(
    "/reload",
    response_model=ReloadResponse,
    responses=error_responses({401: "missing or wrong X-API-Key", 403: "ADMIN_API_KEY is not set"})
    | error_responses(
        {
            409: "the new model failed to load; the previous one is still served",
            503: "model registry unreachable",
        },
        model=ReloadResponse,
    ),
)
def reload_model(services: ServicesDep) -> JSONResponse:
    """Load the active model if it changed; retries an artifact that failed before.

    Sync on purpose: it waits for any poll in progress and loads in a worker thread.
    """
    result = services.models.check(force=True)
    body = ReloadResponse(
        model_version=result.version, changed=result.changed, error=result.error
    ).model_dump()
    if result.database_error:
        code = status.HTTP_503_SERVICE_UNAVAILABLE
    elif result.error:
        code = status.HTTP_409_CONFLICT
    else:
        code = status.HTTP_200_OK
    return JSONResponse(body, status_code=code)
