"""HTTP behaviour that needs no scoring: health, readiness, keys, size limit, CORS, docs."""

from __future__ import annotations

import pytest
from fastapi.testclient import TestClient

from config.settings import get_settings
from src.api import main
from src.api.main import create_app
from src.exceptions import ConfigurationError
from tests.unit.api.conftest import make_services, valid_request


def test_health_and_ready(client: TestClient) -> None:
    assert client.get("/health").json() == {"status": "ok"}
    ready = client.get("/ready")
    assert ready.status_code == 200
    assert ready.json()["model_version"] == "v0007"


def test_not_ready_without_a_model() -> None:
    client = TestClient(create_app(make_services(loaded=False)))
    assert client.get("/health").status_code == 200
    assert client.get("/ready").status_code == 503
    assert client.get("/model").status_code == 503
    response = client.post("/predict", json=valid_request())
    assert response.status_code == 503
    assert "no model" in response.json()["detail"]


def test_model_info_lists_schema_categories_and_nullable(client: TestClient) -> None:
    info = client.get("/model").json()
    assert info["model_version"] == "v0007"
    assert info["threshold"] == 0.5
    assert info["nullable_features"] == ["rate"]
    features = {f["name"]: f for f in info["feature_schema"]["features"]}
    assert features["grade"] == {
        "name": "grade",
        "type": "categorical",
        "nullable": False,
        "categories": ["A", "B", "C"],
    }
    assert features["rate"]["type"] == "numerical" and features["rate"]["nullable"]
    assert info["training_data_snapshot"] == {"row_count": 4}
    assert info["last_reload_error"] is None


def test_admin_reload_is_disabled_without_a_configured_key(client: TestClient) -> None:
    response = client.post("/admin/reload", headers={"X-API-Key": "anything"})
    assert response.status_code == 403
    assert "ADMIN_API_KEY" in response.json()["detail"]


def test_admin_reload_needs_the_key(client: TestClient, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("ADMIN_API_KEY", "s3cret")
    get_settings.cache_clear()
    assert client.post("/admin/reload").status_code == 401
    assert client.post("/admin/reload", headers={"X-API-Key": "wrong"}).status_code == 401


def test_predict_key_when_configured(client: TestClient, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("PREDICT_API_KEY", "p-key")
    get_settings.cache_clear()
    assert client.post("/predict", json=valid_request()).status_code == 401
    assert (
        client.post(
            "/predict/batch", json={"records": [valid_request()]}, headers={"X-API-Key": "nope"}
        ).status_code
        == 401
    )


def test_declared_body_over_the_limit_is_413(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("MAX_REQUEST_BYTES", "2048")
    get_settings.cache_clear()
    client = TestClient(create_app(make_services()))
    response = client.post(
        "/predict", content=b" " * 4096, headers={"Content-Type": "application/json"}
    )
    assert response.status_code == 413


def test_chunked_body_over_the_limit_is_413(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("MAX_REQUEST_BYTES", "2048")
    get_settings.cache_clear()
    client = TestClient(create_app(make_services()))

    def chunks():  # no Content-Length: streamed with chunked encoding
        for _ in range(8):
            yield b" " * 1024

    response = client.post(
        "/predict", content=chunks(), headers={"Content-Type": "application/json"}
    )
    assert response.status_code == 413


def test_cors_closed_by_default(client: TestClient) -> None:
    response = client.options(
        "/predict",
        headers={"Origin": "https://evil.example", "Access-Control-Request-Method": "POST"},
    )
    assert "access-control-allow-origin" not in response.headers


def test_cors_allows_configured_origins(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("CORS_ORIGINS", '["https://app.example"]')
    get_settings.cache_clear()
    client = TestClient(create_app(make_services()))
    response = client.options(
        "/predict",
        headers={"Origin": "https://app.example", "Access-Control-Request-Method": "POST"},
    )
    assert response.headers["access-control-allow-origin"] == "https://app.example"


def test_openapi_example_comes_from_the_model(client: TestClient) -> None:
    doc = client.get("/openapi.json").json()
    body = doc["paths"]["/predict"]["post"]["requestBody"]["content"]["application/json"]
    assert body["schema"] == {"$ref": "#/components/schemas/PredictRequest"}
    assert body["example"]["categorical_features"] == {"term": "36", "grade": "A"}
    assert set(body["example"]["numerical_features"]) == {"amount", "rate"}
    assert "PredictRequest" in doc["components"]["schemas"]
    batch = doc["paths"]["/predict/batch"]["post"]["requestBody"]["content"]["application/json"]
    assert batch["example"] == {"records": [body["example"]]}


def test_openapi_falls_back_without_a_model() -> None:
    client = TestClient(create_app(make_services(loaded=False)))
    doc = client.get("/openapi.json").json()
    body = doc["paths"]["/predict"]["post"]["requestBody"]["content"]["application/json"]
    assert body["example"] == {"categorical_features": {}, "numerical_features": {}}


def test_metrics_endpoint_counts_requests(client: TestClient) -> None:
    client.get("/health")
    client.get("/does-not-exist")
    text = client.get("/metrics").text
    assert 'http_requests_total{endpoint="/health",method="GET",status="200"} 1.0' in text
    assert 'endpoint="unmatched",method="GET",status="404"' in text
    assert 'model_loaded_info{version="v0007"} 1.0' in text
    assert "prediction_log_buffer_depth 0.0" in text
    assert 'prediction_log_dropped_total{reason="overflow"} 0.0' in text


def test_startup_stops_on_missing_cuda_before_starting_any_thread(monkeypatch) -> None:
    """DEVICE is resolved first in the lifespan: one clear error, no poller or log flusher.

    ``cuda:99`` is refused on every machine (no CUDA, or no 100th device).
    """
    monkeypatch.setenv("DEVICE", "cuda:99")
    get_settings.cache_clear()
    monkeypatch.setattr(main, "configure_logging", lambda level: None)  # keep the test's logging
    services = make_services()
    client = TestClient(create_app(services))
    with pytest.raises(ConfigurationError, match="DEVICE=cuda:99 was asked for"), client:
        pass
    assert services.models._thread is None and services.log._thread is None
