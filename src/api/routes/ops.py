"""Operational endpoints: liveness, readiness, the served model, Prometheus metrics."""

from __future__ import annotations

from fastapi import APIRouter, Response, status
from fastapi.responses import JSONResponse
from prometheus_client import CONTENT_TYPE_LATEST

from src.api.deps import ServicesDep
from src.api.model_manager import LoadedModel, LoadError, ModelManager
from src.api.schemas import (
    FeatureInfo,
    FeatureSchemaInfo,
    HealthStatus,
    LoadErrorInfo,
    ModelInfo,
    ReadyStatus,
    error_responses,
)

router = APIRouter(tags=["operations"])


@router.get("/health", response_model=HealthStatus)
async def health() -> HealthStatus:
    """Liveness: the process answers (200 even without a model or a database)."""
    return HealthStatus()


@router.get(
    "/ready",
    response_model=ReadyStatus,
    responses={503: {"model": ReadyStatus, "description": "no model loaded yet"}},
)
async def ready(services: ServicesDep) -> JSONResponse:
    """Readiness: 200 once a model is loaded (predictions keep working without the DB)."""
    loaded = services.models.current
    if loaded is None:
        error = services.models.last_poll_error or services.models.last_error
        detail = "no model loaded yet" + (f" ({error.error})" if error else "")
        body = ReadyStatus(ready=False, detail=detail)
        return JSONResponse(body.model_dump(), status_code=status.HTTP_503_SERVICE_UNAVAILABLE)
    return JSONResponse(ReadyStatus(ready=True, model_version=loaded.version).model_dump())


@router.get(
    "/model",
    response_model=ModelInfo,
    responses=error_responses({503: "no model loaded yet"}),
)
async def model(services: ServicesDep) -> ModelInfo | JSONResponse:
    """The served model: version, metrics, threshold, feature schema, load state."""
    loaded = services.models.current
    if loaded is None:
        errors = _errors(services.models)
        return JSONResponse(
            {"detail": "no model loaded yet", **errors},
            status_code=status.HTTP_503_SERVICE_UNAVAILABLE,
        )
    return model_info(loaded, services.models)


@router.get(
    "/metrics", response_class=Response, responses={200: {"content": {CONTENT_TYPE_LATEST: {}}}}
)
def metrics(services: ServicesDep) -> Response:
    """Prometheus text format: this app's own registry, or every worker's (multiprocess)."""
    return Response(services.metrics.latest(), media_type=CONTENT_TYPE_LATEST)


def _errors(manager: ModelManager) -> dict[str, object]:
    return {
        "last_reload_error": manager.last_error.as_dict() if manager.last_error else None,
        "last_poll_error": manager.last_poll_error.as_dict() if manager.last_poll_error else None,
    }


def model_info(loaded: LoadedModel, manager: ModelManager) -> ModelInfo:
    predictor = loaded.predictor
    schema = predictor.schema
    categories = predictor.preprocessor.categories
    nullable = set(schema.nullable)
    features = [
        FeatureInfo(
            name=name,
            type="categorical",
            nullable=name in nullable,
            categories=list(categories.get(name, [])),
        )
        for name in schema.categorical
    ] + [
        FeatureInfo(name=name, type="numerical", nullable=name in nullable)
        for name in schema.numerical
    ]
    info = loaded.info
    return ModelInfo(
        model_version=loaded.version,
        source=info["source"],
        model_type=info["model_type"],
        threshold=float(predictor.threshold),
        metrics=info["metrics"],
        benchmark_metrics=info.get("benchmark_metrics"),
        feature_schema=FeatureSchemaInfo(
            features=features,
            categorical=list(schema.categorical),
            numerical=list(schema.numerical),
            nullable=list(schema.nullable),
            target=schema.target,
            positive_label=schema.positive_label,
        ),
        nullable_features=list(schema.nullable),
        training_data_snapshot=info["data_snapshot"],
        created_at=info["created_at"],
        activated_at=info["activated_at"],
        artifact_sha256=loaded.sha256,
        loaded_at=loaded.loaded_at,
        last_reload_error=_error_info(manager.last_error),
        last_poll_error=_error_info(manager.last_poll_error),
        shadow_version=_shadow_version(manager),
    )


def _shadow_version(manager: ModelManager) -> str | None:
    shadow = manager.shadow.loaded if manager.shadow is not None else None
    return shadow.version if shadow is not None else None


def _error_info(error: LoadError | None) -> LoadErrorInfo | None:
    return LoadErrorInfo(version=error.version, error=error.error, at=error.at) if error else None
