"""``?model=NAME`` at the HTTP edge (the registry side is covered in tests/e2e/test_model_lines)."""

from __future__ import annotations

import pytest
from fastapi.testclient import TestClient

from src.api.state import Services
from tests.unit.api.conftest import valid_request

pytest.importorskip("src.data.processing")


def test_no_model_param_serves_the_default_line(client: TestClient) -> None:
    assert client.post("/predict", json=valid_request()).json()["model_version"] == "v0007"


def test_model_param_naming_the_default_line_uses_it(
    client: TestClient, services: Services
) -> None:
    services.models.line = "fake"
    response = client.post("/predict", params={"model": "fake"}, json=valid_request())
    assert response.status_code == 200 and response.json()["model_version"] == "v0007"


@pytest.mark.parametrize("name", ["", "a\x00b", "tab\there", "x" * 129])
def test_unusable_line_names_are_422(client: TestClient, name: str) -> None:
    response = client.post("/predict/batch", params={"model": name}, json={"records": []})
    assert response.status_code == 422
    assert response.json()["field"] == "query.model"


def test_unreachable_registry_for_a_named_line_is_503(client: TestClient) -> None:
    # The fake services have no database: the line cannot be looked up, which is not a 500.
    response = client.post("/predict", params={"model": "other"}, json=valid_request())
    assert response.status_code == 503
    assert "cannot reach the model registry to load model line 'other'" in response.json()["detail"]
