"""Pydantic models of the HTTP contract (OpenAPI documentation and response shapes).

Request bodies are *documented* by :class:`PredictRequest` but validated by
``src.pipeline.request_records.request_to_record`` against the loaded model's feature schema, so
the API and the CLI reject exactly the same inputs with the same field-naming messages (a
static pydantic model cannot know which features the active model expects).
"""

from __future__ import annotations

import datetime as dt
from typing import Any, Literal

from pydantic import BaseModel, Field

from src.data.application_ids import APPLICATION_ID_PATTERN, MAX_APPLICATION_ID_LENGTH

APPLICATION_ID_DOC = (
    "Optional: the lender's id of this application (1-64 characters, no control characters). "
    "Echoed in the answer and stored with the logged prediction, so realised outcomes "
    "recorded later (`loan-default outcomes`) can be joined to it. May repeat: an application "
    "scored again is logged again, and monitoring uses the latest prediction per id and model."
)


class PredictRequest(BaseModel):
    """One loan application in the reference design's shape."""

    categorical_features: dict[str, str | int | None] = Field(
        description="Categorical feature name -> category; an unseen category is accepted and "
        "reported in `unseen_categories`."
    )
    numerical_features: dict[str, float | int | None] = Field(
        description="Numerical feature name -> finite number; null only for nullable features."
    )
    application_id: str | None = Field(
        default=None,
        min_length=1,
        max_length=MAX_APPLICATION_ID_LENGTH,
        pattern=APPLICATION_ID_PATTERN,
        description=APPLICATION_ID_DOC,
    )


class BatchPredictRequest(BaseModel):
    records: list[PredictRequest] = Field(description="At most MAX_BATCH_SIZE records.")


class Reason(BaseModel):
    """A reason code: replacing ``feature`` by its training reference lowers risk by ``effect``."""

    feature: str
    value: Any = None
    reference: Any = None
    effect: float = Field(
        description="probability - probability with this feature set to its reference value"
    )


class PredictionResult(BaseModel):
    prediction_id: str = Field(
        description="Server-generated key of this answer in loan_data.predictions; keep it to "
        "join the outcome later."
    )
    prediction: Literal[0, 1] = Field(
        description="1 = predicted default (probability >= threshold)"
    )
    probability: float
    model_version: str
    threshold: float
    request_id: str = Field(
        description="The caller's X-Request-ID (or a generated one): a correlation id, not "
        "unique; every answer is logged under its own prediction_id."
    )
    application_id: str | None = Field(
        default=None, description="The request's application_id (null when none was sent)."
    )
    unseen_categories: list[str] = Field(
        description="Categorical features whose value the model never saw in training (scored "
        "with its 'unknown' embedding)."
    )
    reasons: list[Reason] | None = Field(default=None, description="Only with ?explain=true")


class BatchPredictionResponse(BaseModel):
    request_id: str
    model_version: str
    threshold: float
    predictions: list[PredictionResult]


class FeatureInfo(BaseModel):
    name: str
    type: Literal["categorical", "numerical"]
    nullable: bool
    categories: list[str] | None = Field(
        default=None, description="Categories seen in training (categorical features only)"
    )


class FeatureSchemaInfo(BaseModel):
    features: list[FeatureInfo]
    categorical: list[str]
    numerical: list[str]
    nullable: list[str]
    target: str
    positive_label: str


class LoadErrorInfo(BaseModel):
    version: str | None
    error: str
    at: dt.datetime


class ModelInfo(BaseModel):
    model_version: str
    source: str
    model_type: str
    threshold: float
    metrics: dict[str, float] = Field(
        description="Held-out test metrics (positive class = default)"
    )
    benchmark_metrics: dict[str, float] | None = Field(
        default=None,
        description="The logistic-regression benchmark's metrics on the same test rows "
        "(recorded at training, never served; plus its threshold and C); null for models "
        "registered before benchmarks were recorded",
    )
    feature_schema: FeatureSchemaInfo
    nullable_features: list[str]
    training_data_snapshot: dict[str, Any]
    created_at: dt.datetime | None
    activated_at: dt.datetime | None
    artifact_sha256: str
    loaded_at: dt.datetime
    last_reload_error: LoadErrorInfo | None = Field(
        default=None, description="Most recent failed load of a newer model (old one kept)"
    )
    last_poll_error: LoadErrorInfo | None = Field(
        default=None, description="Set while the model registry cannot be reached"
    )
    shadow_version: str | None = Field(
        default=None,
        description="The challenger scoring a share of traffic in the shadow (never "
        "answering); null when none is loaded (docs/shadow.md)",
    )


class HealthStatus(BaseModel):
    status: Literal["ok"] = "ok"


class ReadyStatus(BaseModel):
    ready: bool
    model_version: str | None = None
    detail: str | None = None


class ReloadResponse(BaseModel):
    model_version: str | None
    changed: bool
    error: str | None = None


class ErrorResponse(BaseModel):
    detail: str
    field: str | None = None


def error_responses(
    descriptions: dict[int, str], *, model: type[BaseModel] = ErrorResponse
) -> dict[int | str, dict[str, Any]]:
    """A route's ``responses=``: each status code documented with its body and its cause."""
    return {code: {"model": model, "description": text} for code, text in descriptions.items()}
