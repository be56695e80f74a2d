"""Registry pages and model reports: ``GET /models`` (HTML), ``/models.json``,
``/models/{version}/report`` (HTML) and ``/models/{version}/card.json``.

Public by default, like ``/model/info``: metrics, status history and the artifact's sha256 help
anyone check what is served.  The full training configuration and the source's location
are admin-only (they describe internal infrastructure and let one retrain the exact model);
they are added when the request carries a valid ``X-API-Key`` = ADMIN_API_KEY.  A wrong key
is refused (401) rather than silently ignored.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable
from typing import Annotated, Any, TypeVar

from fastapi import APIRouter, HTTPException, Path, Query, Security, status
from fastapi.responses import HTMLResponse
from sqlalchemy.exc import SQLAlchemyError

from config.settings import get_settings
from src.api.deps import api_key_header, require_admin_key
from src.api.schemas import error_responses
from src.data.database import get_engine, session_scope

router = APIRouter(tags=["reports"])
T = TypeVar("T")

VersionParam = Annotated[str, Path(pattern=r"^[A-Za-z0-9._-]{1,64}$")]
LineQuery = Annotated[str | None, Query(alias="model", min_length=1, max_length=128)]
ERRORS = error_responses(
    {
        404: "no such model version",
        422: "invalid parameter; `field` names it",
        503: "registry unreachable",
    }
)
# The HTML routes answer errors as JSON: say so, or the error would be documented as text/html.
_JSON_ERROR = {"application/json": {"schema": {"$ref": "#/components/schemas/ErrorResponse"}}}
HTML_ERRORS: dict[int | str, dict[str, Any]] = {
    code: {"description": doc["description"], "content": _JSON_ERROR}
    for code, doc in ERRORS.items()
}


async def admin_view(key: Annotated[str | None, Security(api_key_header)]) -> bool:
    """True with a valid admin key; False without a key; 401/403 for a key that fails."""
    if key is None:
        return False
    await require_admin_key(key)
    return True


def _html(text: str) -> HTMLResponse:
    from src.reporting.render import CONTENT_SECURITY_POLICY

    return HTMLResponse(text, headers={"Content-Security-Policy": CONTENT_SECURITY_POLICY})


def _registry(call: Callable[[], T]) -> T:
    try:
        return call()
    except SQLAlchemyError as exc:
        raise HTTPException(
            status.HTTP_503_SERVICE_UNAVAILABLE,
            f"the registry database is unreachable: {type(exc).__name__}",
        ) from None


def _listing(line: str | None) -> list[dict[str, Any]]:
    from src.reporting.registry import registry_listing

    with session_scope(get_engine(get_settings().database_url)) as session:
        return registry_listing(session, source=line)


def _card(version: str, include_admin: bool) -> dict[str, Any]:
    from src.reporting.card import build_card

    return build_card(version=version, include_admin=include_admin)


@router.get("/models", response_class=HTMLResponse, responses=HTML_ERRORS)
def models_page(line: LineQuery = None) -> HTMLResponse:
    """Every registered version with status, key metrics, deltas and links to its report."""
    from src.reporting.render import render_registry

    rows = _registry(lambda: _listing(line))
    now = dt.datetime.now(dt.UTC).isoformat(timespec="seconds")
    return _html(render_registry(rows, generated_at=now))


@router.get("/models.json", responses=ERRORS)
def models_json(line: LineQuery = None) -> list[dict[str, Any]]:
    """The data of ``GET /models``, newest version first."""
    return _registry(lambda: _listing(line))


@router.get("/models/{version}/card.json", responses=ERRORS)
def model_card(
    version: VersionParam, include_admin: Annotated[bool, Security(admin_view)]
) -> dict[str, Any]:
    """The model card as data: every number and text of the HTML report."""
    return _registry(lambda: _card(version, include_admin))


@router.get("/models/{version}/report", response_class=HTMLResponse, responses=HTML_ERRORS)
def model_report(
    version: VersionParam, include_admin: Annotated[bool, Security(admin_view)]
) -> HTMLResponse:
    """One self-contained HTML page (inline SVG plots, no script, no external request)."""
    from src.reporting.render import render_report

    card = _registry(lambda: _card(version, include_admin))
    return _html(render_report(card))
