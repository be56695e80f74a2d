"""``GET /monitoring``: the latest drift and performance (realised and estimated) of a model."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, HTTPException, status
from sqlalchemy.exc import SQLAlchemyError

from config.settings import get_settings
from src.api.deps import ModelDep
from src.api.monitoring_schemas import MonitoringInfo
from src.api.schemas import error_responses
from src.data.database import get_engine, session_scope
from src.pipeline.monitoring_view import monitoring_snapshot

router = APIRouter(tags=["monitoring"])


@router.get(
    "/monitoring",
    response_model=MonitoringInfo,
    responses=error_responses(
        {
            404: "`model` names no line with an active model",
            422: "invalid parameter; `field` names it",
            503: "no model, or registry unreachable",
        }
    ),
)
def monitoring(model: ModelDep) -> dict[str, Any]:
    """Drift (PSI of the score, CSI per feature) and performance of the served model.

    What the last ``model_validation_deployment`` run (or ``loan-default monitor``) measured;
    ``drift`` is null until a monitoring run has measured this model.
    """
    try:
        with session_scope(get_engine(get_settings().database_url)) as session:
            return monitoring_snapshot(session, model_version=model.version)
    except SQLAlchemyError as exc:
        raise HTTPException(
            status.HTTP_503_SERVICE_UNAVAILABLE,
            f"the registry database is unreachable: {type(exc).__name__}",
        ) from None
