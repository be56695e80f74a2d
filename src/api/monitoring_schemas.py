"""The HTTP contract of ``GET /monitoring`` (OpenAPI documentation and response shape)."""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, Field


class DriftItem(BaseModel):
    feature: str = Field(description="a feature name, or __score__ for the model's score")
    psi: float | None
    psi_null_p99: float | None = Field(
        description="99th percentile of PSI under no change at these sample sizes"
    )
    status: Literal["stable", "investigate", "act"]
    n_reference: int
    n_current: int


class PopulationDrift(BaseModel):
    n_current: int
    score: DriftItem | None
    features: list[DriftItem]


class DriftInfo(BaseModel):
    monitoring_run: str
    computed_at: str
    window_start: str | None
    window_end: str | None
    populations: dict[str, PopulationDrift] = Field(
        description="live = logged predictions of the window; collected = rows collected "
        "since the model's training snapshot; unlabelled = applications collected without an "
        "outcome since the model's registration"
    )


class PerformanceInfo(BaseModel):
    population: Literal["live", "collected"]
    estimated: bool = Field(description="true: CBPE estimate from calibrated probabilities")
    evaluated_at: str
    window_start: str | None
    window_end: str | None
    n_samples: int
    missing_outcomes: int = Field(description="matured predictions without a recorded outcome")
    metrics: dict[str, float | None]
    f1_se: float | None = Field(description="bootstrap standard error of the realised F1")
    gap_to_estimate: dict[str, float] | None = Field(
        description="realised - CBPE estimate on the same rows (concept drift signal)"
    )
    retrain: bool | None
    reason: str


class MonitoringInfo(BaseModel):
    model_version: str
    drift: DriftInfo | None
    performance: list[PerformanceInfo]
