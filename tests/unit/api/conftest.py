"""An app wired to an in-memory fake model: no database, no lifespan threads, no torch model.

The fake predictor uses the real ``Preprocessor`` (categories, reference values, unseen
categories) and a simple logistic score, so the HTTP layer is tested in isolation.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import numpy as np
import pandas as pd
import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient

from config.settings import get_settings
from src.api.main import create_app
from src.api.metrics import ServiceMetrics
from src.api.model_manager import LoadedModel, ModelManager
from src.api.prediction_log import PredictionLogWriter
from src.api.state import Services
from src.data.feature_schema import FeatureSchema
from src.data.frames import records_to_frame
from src.models.preprocessing import Preprocessor

SCHEMA = FeatureSchema(
    categorical=("term", "grade"),
    numerical=("amount", "rate"),
    target="bad",
    positive_label="1",
    nullable=("rate",),
)
TRAIN = pd.DataFrame(
    {
        "term": ["36", "60", "36", "36"],
        "grade": ["A", "B", "C", "A"],
        "amount": [1000.0, 5000.0, 2500.0, 4000.0],
        "rate": [5.0, 12.0, np.nan, 8.0],
    }
)


class FakePredictor:
    version = "v0007"
    threshold = 0.5
    schema = SCHEMA

    def __init__(self) -> None:
        self.preprocessor = Preprocessor.fit(TRAIN, SCHEMA)

    def predict_proba(self, frame: pd.DataFrame) -> np.ndarray:
        x_cat, x_num = self.preprocessor.transform(frame)
        logit = x_num.numpy().sum(axis=1) + 0.3 * x_cat.numpy().sum(axis=1) - 1.0
        return 1.0 / (1.0 + np.exp(-logit))

    def predict_records(self, records: list[dict[str, Any]]) -> tuple[np.ndarray, list[list[str]]]:
        frame = records_to_frame(records, SCHEMA)
        return self.predict_proba(frame), self.preprocessor.unseen_categories(frame)

    def explain(
        self, frame: pd.DataFrame, top_k: int = 5, max_rows_per_pass: int = 1024
    ) -> list[list[dict[str, Any]]]:
        base = self.predict_proba(frame)
        refs = self.preprocessor.reference_values()
        out = []
        for i in range(len(frame)):
            reasons = []
            for name in SCHEMA.features:
                occluded = frame.iloc[[i]].copy()
                occluded[name] = refs[name]
                effect = float(base[i] - self.predict_proba(occluded)[0])
                reasons.append(
                    {
                        "feature": name,
                        "value": frame.iloc[i][name],
                        "reference": refs[name],
                        "effect": np.float32(effect),
                    }
                )
            reasons.sort(key=lambda r: -r["effect"])
            out.append([r for r in reasons if r["effect"] > 0][:top_k])
        return out


def valid_request(**numerical: Any) -> dict[str, Any]:
    return {
        "categorical_features": {"term": "36", "grade": "B"},
        "numerical_features": {"amount": 3000, "rate": 7.5} | numerical,
    }


def make_services(*, loaded: bool = True) -> Services:
    metrics = ServiceMetrics()
    log = PredictionLogWriter(
        engine=lambda: None,  # type: ignore[arg-type,return-value]  # never called here
        capacity=1000,
        flush_seconds=60,
    )
    metrics.watch_log(log.stats)
    models = ModelManager(
        engine=lambda: None,  # type: ignore[arg-type,return-value]  # never called here
        poll_seconds=60,
        metrics=metrics,
    )
    if loaded:
        predictor = FakePredictor()
        models.current = LoadedModel(
            predictor=predictor,  # type: ignore[arg-type]  # a duck-typed stand-in
            version=predictor.version,
            sha256="0" * 64,
            info={
                "source": "fake",
                "model_type": "tab_transformer",
                "metrics": {"roc_auc": 0.7},
                "data_snapshot": {"row_count": 4},
                "created_at": None,
                "activated_at": None,
            },
        )
        metrics.set_model(predictor.version)
    return Services(
        metrics=metrics,
        models=models,
        log=log,
        fallback_example={"categorical_features": {}, "numerical_features": {}},
    )


@pytest.fixture(autouse=True)
def clean_settings(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    for key in (
        "ADMIN_API_KEY",
        "PREDICT_API_KEY",
        "MAX_BATCH_SIZE",
        "MAX_REQUEST_BYTES",
        "MAX_EXPLAIN_CELLS",
        "EXPLAIN_ROWS_PER_PASS",
        "CORS_ORIGINS",
    ):
        monkeypatch.delenv(key, raising=False)
    get_settings.cache_clear()
    yield
    get_settings.cache_clear()


@pytest.fixture
def services() -> Services:
    return make_services()


@pytest.fixture
def app(services: Services) -> FastAPI:
    return create_app(services)


@pytest.fixture
def client(app: FastAPI) -> TestClient:
    """Without ``with``: the lifespan (poller, flusher, database) never starts."""
    return TestClient(app)
