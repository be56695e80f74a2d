"""An OpenAPI document whose /predict example is a valid request for the *served* model.

The example is built from the loaded model's training medians/modes
(``example_request(preprocessor.reference_values())``), so "Try it out" works for any source;
with no model loaded it falls back to the bundled lending_club ``examples/request.json``.
The document is rebuilt only when the served version changes.
"""

from __future__ import annotations

from typing import Any

from fastapi import FastAPI
from fastapi.openapi.utils import get_openapi

from src.api.model_manager import LoadedModel
from src.api.schemas import BatchPredictRequest, PredictRequest
from src.api.state import Services
from src.pipeline.prediction import example_request


def model_example(
    loaded: LoadedModel | None, fallback: dict[str, Any] | None
) -> dict[str, Any] | None:
    if loaded is None:
        return fallback
    preprocessor = loaded.predictor.preprocessor
    return example_request(preprocessor.reference_values(), schema=loaded.predictor.schema)


def _add_request_schemas(doc: dict[str, Any]) -> None:
    components = doc.setdefault("components", {}).setdefault("schemas", {})
    for model in (PredictRequest, BatchPredictRequest):
        schema = model.model_json_schema(ref_template="#/components/schemas/{model}")
        for name, sub in schema.pop("$defs", {}).items():
            components.setdefault(name, sub)
        components[model.__name__] = schema


def _set_example(doc: dict[str, Any], path: str, example: dict[str, Any]) -> None:
    operation = doc.get("paths", {}).get(path, {}).get("post")
    if operation is None:
        return
    content = operation.setdefault("requestBody", {}).setdefault("content", {})
    content.setdefault("application/json", {})["example"] = example


def install_openapi(app: FastAPI, services: Services) -> None:
    cache: dict[str, Any] = {}

    def openapi() -> dict[str, Any]:
        loaded = services.models.current
        key = loaded.version if loaded else None
        if "doc" in cache and cache["key"] == key:
            return cache["doc"]
        doc = get_openapi(
            title=app.title, version=app.version, description=app.description, routes=app.routes
        )
        _add_request_schemas(doc)
        example = model_example(loaded, services.fallback_example)
        if example is not None:
            _set_example(doc, "/predict", example)
            _set_example(doc, "/predict/batch", {"records": [example]})
        cache.update(key=key, doc=doc)
        return doc

    app.openapi = openapi  # type: ignore[method-assign]
