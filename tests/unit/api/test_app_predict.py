"""/predict and /predict/batch over the ASGI app with a fake model: shapes, 422s, logging."""

from __future__ import annotations

from pathlib import Path

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import select

from config.settings import get_settings
from src.api.prediction_log import insert_ignoring_duplicates
from src.api.state import Services
from src.data.database import get_engine
from src.data.tables import Base, Prediction
from tests.unit.api.conftest import valid_request

pytest.importorskip("src.data.frames")


def test_predict_response_shape_and_request_id(client: TestClient, services: Services) -> None:
    response = client.post("/predict", json=valid_request(), headers={"X-Request-ID": "abc-1"})
    assert response.status_code == 200, response.text
    body = response.json()
    assert set(body) == {
        "prediction_id",
        "prediction",
        "probability",
        "model_version",
        "threshold",
        "request_id",
        "application_id",
        "unseen_categories",
    }
    assert body["application_id"] is None  # the reference shape, without an id
    assert body["request_id"] == "abc-1" == response.headers["X-Request-ID"]
    assert body["model_version"] == "v0007"
    assert body["prediction"] == int(body["probability"] >= body["threshold"])
    rows = services.log.buffer.take(10)
    assert [r["request_id"] for r in rows] == ["abc-1"]
    assert rows[0]["features"] == {"term": "36", "grade": "B", "amount": 3000.0, "rate": 7.5}


def test_generated_request_ids_are_unique(client: TestClient) -> None:
    ids = {client.post("/predict", json=valid_request()).json()["request_id"] for _ in range(3)}
    assert len(ids) == 3


def test_unseen_categories_and_nullable_missing(client: TestClient) -> None:
    request = valid_request(rate=None)
    request["categorical_features"]["grade"] = "Z9"
    body = client.post("/predict", json=request).json()
    assert body["unseen_categories"] == ["grade"]


def test_explain_adds_reasons(client: TestClient) -> None:
    body = client.post("/predict?explain=true", json=valid_request(amount=90000)).json()
    assert body["reasons"], body
    assert body["reasons"][0]["feature"] == "amount"
    assert isinstance(body["reasons"][0]["effect"], float)


@pytest.mark.parametrize(
    ("content", "field"),
    [
        (b"", "body"),
        (b"not json", "body"),
        (b"[1, 2]", "body"),
        (
            b'{"categorical_features": {"term": "36", "grade": "B"}, '
            b'"numerical_features": {"amount": NaN, "rate": 1}}',
            "numerical_features.amount",
        ),
        (
            b'{"categorical_features": {"term": "36", "grade": "B"}, '
            b'"numerical_features": {"amount": Infinity, "rate": 1}}',
            "numerical_features.amount",
        ),
        (
            b'{"categorical_features": {"term": "36", "grade": "B"}, '
            b'"numerical_features": {"amount": 1e999, "rate": 1}}',
            "numerical_features.amount",
        ),
        (
            b'{"categorical_features": {"term": "36"}, "numerical_features": '
            b'{"amount": 1, "rate": 1}}',
            "categorical_features.grade",
        ),
        (
            b'{"categorical_features": {"term": "36", "grade": "B", "zzz": "1"}, '
            b'"numerical_features": {"amount": 1, "rate": 1}}',
            "categorical_features.zzz",
        ),
        (
            b'{"categorical_features": {"term": "36", "grade": "B"}, '
            b'"numerical_features": {"amount": "lots", "rate": 1}}',
            "numerical_features.amount",
        ),
        (
            b'{"categorical_features": {"term": "36", "grade": ["B"]}, '
            b'"numerical_features": {"amount": 1, "rate": 1}}',
            "categorical_features.grade",
        ),
        (
            b'{"categorical_features": {"term": "36", "grade": "B"}, '
            b'"numerical_features": {"amount": null, "rate": 1}}',
            "numerical_features.amount",
        ),
        (
            b'{"categorical_features": {"term": "36", "grade": "B"}, '
            b'"numerical_features": {"amount": true, "rate": 1}}',
            "numerical_features.amount",
        ),
        (b'{"categorical_features": {}, "numerical_features": {}, "x": 1}', "x"),
    ],
)
def test_invalid_inputs_are_422_naming_the_field(
    client: TestClient, content: bytes, field: str
) -> None:
    response = client.post(
        "/predict", content=content, headers={"Content-Type": "application/json"}
    )
    assert response.status_code == 422, response.text
    assert response.json()["field"] == field
    assert field in response.json()["detail"]


def test_bad_request_id_header_is_422(client: TestClient) -> None:
    response = client.post("/predict", json=valid_request(), headers={"X-Request-ID": "x" * 65})
    assert response.status_code == 422
    assert response.json()["field"] == "header.X-Request-ID"


def test_bad_explain_flag_is_422(client: TestClient) -> None:
    response = client.post("/predict?explain=perhaps", json=valid_request())
    assert response.status_code == 422
    assert response.json()["field"] == "query.explain"


def test_batch_matches_singles_and_keeps_order(client: TestClient, services: Services) -> None:
    requests = [valid_request(amount=a) for a in (500, 3000, 90000)]
    batch = client.post(
        "/predict/batch", json={"records": requests}, headers={"X-Request-ID": "b1"}
    ).json()
    singles = [client.post("/predict", json=r).json()["probability"] for r in requests]
    assert [p["probability"] for p in batch["predictions"]] == pytest.approx(singles, abs=1e-9)
    assert [p["request_id"] for p in batch["predictions"]] == ["b1-0", "b1-1", "b1-2"]
    assert batch["request_id"] == "b1" and batch["model_version"] == "v0007"
    logged = [r["request_id"] for r in services.log.buffer.take(10)]
    assert logged[:3] == ["b1-0", "b1-1", "b1-2"]


def test_batch_error_names_the_record(client: TestClient) -> None:
    requests = [valid_request(), valid_request(), valid_request(rate="high")]
    response = client.post("/predict/batch", json={"records": requests})
    assert response.status_code == 422
    assert response.json()["field"] == "records[2].numerical_features.rate"


def test_batch_over_the_cap_is_413(client: TestClient, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("MAX_BATCH_SIZE", "2")
    get_settings.cache_clear()
    response = client.post("/predict/batch", json={"records": [valid_request()] * 3})
    assert response.status_code == 413
    assert client.post("/predict/batch", json={"records": [valid_request()] * 2}).status_code == 200


def test_explaining_too_many_cells_is_413_saying_why(
    client: TestClient, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("MAX_EXPLAIN_CELLS", "8")  # the fake model has 4 features: 2 records
    monkeypatch.setenv("EXPLAIN_ROWS_PER_PASS", "3")
    get_settings.cache_clear()
    body = {"records": [valid_request()] * 3}
    response = client.post("/predict/batch?explain=true", json=body)
    assert response.status_code == 413
    assert response.json()["detail"] == (
        "explain=true: 3 records x 4 features = 12 exceeds MAX_EXPLAIN_CELLS (8); send at most "
        "2 records per request when explaining, or omit explain"
    )
    assert client.post("/predict/batch", json=body).status_code == 200  # no explain: no cap
    two = client.post("/predict/batch?explain=true", json={"records": [valid_request()] * 2})
    assert two.status_code == 200 and all("reasons" in p for p in two.json()["predictions"])


def test_prediction_metrics_move(client: TestClient) -> None:
    client.post("/predict", json=valid_request())
    text = client.get("/metrics").text
    assert 'http_requests_total{endpoint="/predict",method="POST",status="200"} 1.0' in text
    assert "prediction_log_buffer_depth 1.0" in text


def test_flat_body_422_says_how_to_nest(client: TestClient) -> None:
    flat = {"term": "36", "grade": "B", "amount": 3000, "rate": 7.5}
    response = client.post("/predict", json=flat)
    assert response.status_code == 422
    body = response.json()
    assert body["field"] == "body"
    assert (
        "must nest features under 'categorical_features' and 'numerical_features'"
        in (body["detail"])
    )
    assert "['amount', 'grade', 'rate', 'term']" in body["detail"]
    batch = client.post("/predict/batch", json={"records": [valid_request(), flat]})
    assert batch.status_code == 422 and batch.json()["field"] == "records[1]"


def test_feature_in_the_wrong_section_422_says_so(client: TestClient) -> None:
    request = valid_request()
    request["numerical_features"]["grade"] = request["categorical_features"].pop("grade")
    response = client.post("/predict", json=request)
    assert response.status_code == 422
    assert response.json() == {
        "detail": "numerical_features.grade: feature 'grade' is categorical but was sent under "
        "numerical_features",
        "field": "numerical_features.grade",
    }


def test_application_id_is_echoed_and_logged_not_a_feature(
    client: TestClient, services: Services
) -> None:
    request = valid_request() | {"application_id": "APP-0001"}
    body = client.post("/predict", json=request).json()
    assert body["application_id"] == "APP-0001"
    [row] = services.log.buffer.take(10)
    assert row["application_id"] == "APP-0001"
    assert "application_id" not in row["features"]


def test_batch_application_ids_per_record_may_repeat(
    client: TestClient, services: Services
) -> None:
    records = [
        valid_request() | {"application_id": "A-1"},
        valid_request(),
        valid_request(amount=9000) | {"application_id": "A-1"},  # re-scored application
    ]
    body = client.post("/predict/batch", json={"records": records}).json()
    assert [p["application_id"] for p in body["predictions"]] == ["A-1", None, "A-1"]
    logged = services.log.buffer.take(10)
    assert [r["application_id"] for r in logged] == ["A-1", None, "A-1"]
    assert len({r["prediction_id"] for r in logged}) == 3


@pytest.mark.parametrize(
    ("value", "fragment"),
    [(7, "got int"), ("", "is empty"), ("x" * 65, "at most 64"), ("a\nb", "control")],
)
def test_bad_application_id_is_422_naming_the_field(
    client: TestClient, services: Services, value: object, fragment: str
) -> None:
    response = client.post("/predict", json=valid_request() | {"application_id": value})
    assert response.status_code == 422, response.text
    assert response.json()["field"] == "application_id"
    assert fragment in response.json()["detail"]
    records = [valid_request(), valid_request() | {"application_id": value}]
    response = client.post("/predict/batch", json={"records": records})
    assert response.status_code == 422, response.text
    assert response.json()["field"] == "records[1].application_id"
    assert len(services.log.buffer) == 0  # nothing scored, nothing logged


def test_logged_application_id_lands_in_the_predictions_table(
    client: TestClient, services: Services, tmp_path: Path
) -> None:
    """The request path's rows, written by the real log writer (SQLite in unit tests)."""
    engine = get_engine(f"sqlite:///{tmp_path / 'log.db'}")
    Base.metadata.create_all(engine)
    client.post("/predict", json=valid_request() | {"application_id": "APP-9"})
    client.post("/predict", json=valid_request())
    assert insert_ignoring_duplicates(engine, services.log.buffer.take(10)) == 2
    with engine.connect() as conn:
        stored = conn.execute(select(Prediction.application_id).order_by(Prediction.id)).all()
    assert [r[0] for r in stored] == ["APP-9", None]


def test_openapi_documents_the_application_id(client: TestClient) -> None:
    doc = client.get("/openapi.json").json()
    schemas = doc["components"]["schemas"]
    [string, null] = schemas["PredictRequest"]["properties"]["application_id"]["anyOf"]
    assert (string["minLength"], string["maxLength"], null) == (1, 64, {"type": "null"})
    assert "application_id" not in schemas["PredictRequest"].get("required", [])
    assert "application_id" in schemas["PredictionResult"]["properties"]
