"""An OpenAPI document that describes the *served* model's requests exactly.

* The /predict example is built from the loaded model's training medians/modes
  (``example_request(preprocessor.reference_values())``), so "Try it out" works for any
  source; with no model loaded it falls back to the bundled lending_club
  ``examples/request.json``.
* With a model loaded, ``PredictRequest`` lists that model's features (types, which may be
  null, no others), so a client or a fuzzer (schemathesis, see docs/reliability.md) can tell
  a valid request from an invalid one by the document alone; ``request_to_record`` remains
  the validator and refuses what the schema excludes (it also accepts integer categories,
  which the document does not advertise).
* The X-API-Key requirement of /predict is documented as optional while PREDICT_API_KEY is
  unset.

The document is rebuilt only when the served version (or the predict key's presence) changes.
"""

from __future__ import annotations

from typing import Any

from fastapi import FastAPI
from fastapi.openapi.utils import get_openapi

from config.settings import get_settings
from src.api.model_manager import LoadedModel
from src.api.schemas import APPLICATION_ID_DOC, BatchPredictRequest, PredictRequest
from src.api.state import Services
from src.data.application_ids import (
    APPLICATION_ID,
    APPLICATION_ID_PATTERN,
    MAX_APPLICATION_ID_LENGTH,
)
from src.data.feature_schema import FeatureSchema
from src.pipeline.request_records import CATEGORICAL, NUMERICAL, example_request

MAX_FLOAT = 1.7976931348623157e308  # larger numbers cannot become a float64 feature: 422
MAX_CATEGORY_LENGTH = 256  # request_to_record refuses longer category values
PREDICT_PATHS = ("/predict", "/predict/batch")


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


def _nullable(schema: dict[str, Any], nullable: bool) -> dict[str, Any]:
    return {"anyOf": [schema, {"type": "null"}]} if nullable else schema


def model_request_schema(schema: FeatureSchema) -> dict[str, Any]:
    """JSON Schema of a request the model accepts (mirrors ``request_to_record``).

    Categories are strings (at most 256 characters, no NUL); unseen categories are accepted.
    (An integer category is accepted too, as its decimal text, but is not advertised: JSON
    Schema would also call ``3.0`` an integer.)  Numbers must fit a float64.  Only
    ``nullable`` features may be null or absent; no other feature names are allowed.  The
    optional ``application_id`` is a string of 1 to 64 characters without control characters.
    """
    nullable = set(schema.nullable)
    category = {"type": "string", "maxLength": MAX_CATEGORY_LENGTH, "pattern": "^[^\\u0000]*$"}
    number = {"type": "number", "minimum": -MAX_FLOAT, "maximum": MAX_FLOAT}
    application_id = {
        "type": "string",
        "minLength": 1,
        "maxLength": MAX_APPLICATION_ID_LENGTH,
        "pattern": APPLICATION_ID_PATTERN,
    }

    def section(names: tuple[str, ...], value: dict[str, Any], kind: str) -> dict[str, Any]:
        return {
            "type": "object",
            "description": f"The model's {kind} features; only nullable ones may be null/absent.",
            "properties": {name: _nullable(value, name in nullable) for name in names},
            "required": [name for name in names if name not in nullable],
            "additionalProperties": False,
        }

    return {
        "title": "PredictRequest",
        "description": "One loan application for the served model",
        "type": "object",
        "properties": {
            CATEGORICAL: section(schema.categorical, category, "categorical"),
            NUMERICAL: section(schema.numerical, number, "numerical"),
            APPLICATION_ID: _nullable(application_id, True) | {"description": APPLICATION_ID_DOC},
        },
        "required": [CATEGORICAL, NUMERICAL],
        "additionalProperties": False,
    }


def _describe_served_model(doc: dict[str, Any], schema: FeatureSchema) -> None:
    components = doc["components"]["schemas"]
    components["PredictRequest"] = model_request_schema(schema)
    components["BatchPredictRequest"] = {
        "title": "BatchPredictRequest",
        "type": "object",
        "properties": {
            "records": {
                "type": "array",
                "items": {"$ref": "#/components/schemas/PredictRequest"},
                "minItems": 1,
                "maxItems": get_settings().max_batch_size,
                "description": "At most MAX_BATCH_SIZE records.",
            }
        },
        "required": ["records"],
        "additionalProperties": False,
    }


def _predict_key_optional(doc: dict[str, Any]) -> None:
    """Without PREDICT_API_KEY prediction is open: an empty requirement makes the key optional."""
    for path in PREDICT_PATHS:
        operation = doc.get("paths", {}).get(path, {}).get("post")
        if operation is not None and operation.get("security"):
            operation["security"] = [{}, *operation["security"]]


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
        predict_key = get_settings().predict_api_key
        open_predict = predict_key is None or not predict_key.get_secret_value()
        key = (loaded.version if loaded else None, open_predict)
        if "doc" in cache and cache["key"] == key:
            return cache["doc"]
        doc = get_openapi(
            title=app.title, version=app.version, description=app.description, routes=app.routes
        )
        _add_request_schemas(doc)
        if loaded is not None:
            _describe_served_model(doc, loaded.predictor.schema)
        if open_predict:
            _predict_key_optional(doc)
        example = model_example(loaded, services.fallback_example)
        if example is not None:
            _set_example(doc, "/predict", example)
            _set_example(doc, "/predict/batch", {"records": [example]})
        cache.update(key=key, doc=doc)
        return doc

    # FastAPI documents replacing app.openapi as the way to customise the schema.
    app.openapi = openapi  # type: ignore[method-assign]
