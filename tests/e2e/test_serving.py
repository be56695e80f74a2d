"""The served model over real HTTP: consistency with the in-process model, batch, validation,
explanations, model info, docs example, metrics, admin and the prediction log."""

from __future__ import annotations

import copy
import json
import os
import subprocess
import sys
import uuid
from typing import Any

import pytest

from tests.e2e.conftest import Served
from tests.e2e.helpers import (
    in_process_probabilities,
    logged_prediction_ids,
    logged_request_ids,
    metric_value,
)
from tests.e2e.server import ADMIN_KEY, REPO_ROOT, wait_until

pytestmark = [pytest.mark.e2e, pytest.mark.slow]


def post(served: Served, path: str, payload: Any, **kwargs: Any) -> Any:
    return served.client.post(path, json=payload, **kwargs)


def test_predictions_match_the_in_process_model(served: Served) -> None:
    requests = served.requests[:8]
    expected = in_process_probabilities(served.predictor, requests)
    for request, probability in zip(requests, expected, strict=True):
        rid = f"e2e-{uuid.uuid4().hex[:12]}"
        response = post(served, "/predict", request, headers={"X-Request-ID": rid})
        assert response.status_code == 200, response.text
        body = response.json()
        assert body["probability"] == pytest.approx(probability, abs=1e-6)
        assert body["prediction"] == int(body["probability"] >= served.predictor.threshold)
        assert body["threshold"] == pytest.approx(served.predictor.threshold)
        assert body["model_version"] == served.version
        assert body["request_id"] == rid == response.headers["x-request-id"]
        assert body["unseen_categories"] == []
    assert "reasons" not in body


def test_unseen_category_is_reported_not_rejected(served: Served) -> None:
    request = copy.deepcopy(served.requests[0])
    feature = served.predictor.schema.categorical[0]
    request["categorical_features"][feature] = "never-seen-value"
    body = post(served, "/predict", request).json()
    assert body["unseen_categories"] == [feature]
    uuid.UUID(body["request_id"])  # generated as a uuid4 when no header was sent


def test_extreme_but_valid_numbers_are_scored(served: Served) -> None:
    for extreme in (1.7976931348623157e308, -1.7976931348623157e308, 5e-324, 0):
        request = copy.deepcopy(served.requests[0])
        request["numerical_features"] = dict.fromkeys(request["numerical_features"], extreme)
        response = post(served, "/predict?explain=true", request)
        assert response.status_code == 200, response.text
        assert 0.0 <= response.json()["probability"] <= 1.0


def test_batch_matches_singles_and_keeps_order(served: Served) -> None:
    requests = served.requests[:25]
    batch = post(served, "/predict/batch", {"records": requests}).json()
    singles = [post(served, "/predict", r).json()["probability"] for r in requests]
    assert [p["probability"] for p in batch["predictions"]] == pytest.approx(singles, abs=1e-6)
    assert batch["model_version"] == served.version
    assert len({p["request_id"] for p in batch["predictions"]}) == len(requests)


def test_batch_over_the_cap_is_413(served: Served) -> None:
    records = [served.requests[0]] * 1001  # default MAX_BATCH_SIZE is 1000
    response = post(served, "/predict/batch", {"records": records})
    assert response.status_code == 413
    assert "1000" in response.json()["detail"]
    assert post(served, "/predict/batch", {"records": records[:1000]}).status_code == 200


def _invalid_cases(served: Served) -> list[tuple[str, bytes, str]]:
    schema = served.predictor.schema
    base = served.requests[0]
    cat, num = schema.categorical[0], schema.numerical[0]
    required = next(n for n in schema.numerical if n not in schema.nullable)

    def variant(section: str, name: str, value: Any, *, drop: bool = False) -> dict[str, Any]:
        request = copy.deepcopy(base)
        if drop:
            del request[section][name]
        else:
            request[section][name] = value
        return request

    cases: list[tuple[str, Any, str]] = [
        (
            "missing",
            variant("numerical_features", required, None, drop=True),
            f"numerical_features.{required}",
        ),
        ("null", variant("numerical_features", required, None), f"numerical_features.{required}"),
        ("unknown", variant("numerical_features", "shoe_size", 42), "numerical_features.shoe_size"),
        ("wrong type", variant("numerical_features", num, "lots"), f"numerical_features.{num}"),
        (
            "wrong category type",
            variant("categorical_features", cat, {"a": 1}),
            f"categorical_features.{cat}",
        ),
        ("boolean", variant("numerical_features", num, True), f"numerical_features.{num}"),
        ("huge", variant("numerical_features", num, 10**400), f"numerical_features.{num}"),
    ]
    encoded = [(name, json.dumps(req).encode(), field) for name, req, field in cases]
    marker = json.dumps(variant("numerical_features", num, 12345.678)).encode()
    for literal in (b"NaN", b"Infinity", b"-Infinity"):
        encoded.append(
            (literal.decode(), marker.replace(b"12345.678", literal), f"numerical_features.{num}")
        )
    encoded += [
        ("empty", b"", "body"),
        ("not json", b"<xml/>", "body"),
        ("list", b"[]", "body"),
        ("truncated", marker[:-5], "body"),
    ]
    return encoded


def test_each_invalid_input_is_422_naming_the_field(served: Served) -> None:
    for name, content, field in _invalid_cases(served):
        response = served.client.post(
            "/predict", content=content, headers={"Content-Type": "application/json"}
        )
        assert response.status_code == 422, (name, response.text)
        body = response.json()
        assert body["field"] == field, (name, body)
        assert field in body["detail"], (name, body)


def test_batch_error_names_the_record(served: Served) -> None:
    records = copy.deepcopy(served.requests[:5])
    num = served.predictor.schema.numerical[0]
    records[3]["numerical_features"][num] = "oops"
    response = post(served, "/predict/batch", {"records": records})
    assert response.status_code == 422
    assert response.json()["field"] == f"records[3].numerical_features.{num}"


def test_oversized_body_is_413(served: Served) -> None:
    response = served.client.post(
        "/predict", content=b" " * 2_100_000, headers={"Content-Type": "application/json"}
    )
    assert response.status_code == 413


def test_explain_effects_match_occluded_requests(served: Served) -> None:
    probabilities = in_process_probabilities(served.predictor, served.requests)
    riskiest = served.requests[max(range(len(probabilities)), key=probabilities.__getitem__)]
    body = post(served, "/predict?explain=true", riskiest).json()
    reasons = body["reasons"]
    assert reasons, body
    assert [r["effect"] for r in reasons] == sorted((r["effect"] for r in reasons), reverse=True)
    schema = served.predictor.schema
    for reason in reasons:
        occluded = copy.deepcopy(riskiest)
        section = (
            "categorical_features"
            if reason["feature"] in schema.categorical
            else "numerical_features"
        )
        occluded[section][reason["feature"]] = reason["reference"]
        other = post(served, "/predict", occluded).json()["probability"]
        assert body["probability"] - other == pytest.approx(reason["effect"], abs=1e-5), reason


def test_model_endpoint_describes_the_served_model(served: Served) -> None:
    info = served.client.get("/model").json()
    schema = served.predictor.schema
    assert info["model_version"] == served.version
    assert info["threshold"] == pytest.approx(served.predictor.threshold)
    assert set(info["metrics"]) >= {"f1_score", "roc_auc", "pr_auc"}
    assert info["feature_schema"]["categorical"] == list(schema.categorical)
    assert info["nullable_features"] == list(schema.nullable)
    cats = {f["name"]: f for f in info["feature_schema"]["features"] if f["type"] == "categorical"}
    first = schema.categorical[0]
    assert cats[first]["categories"] == served.predictor.preprocessor.categories[first]
    assert info["training_data_snapshot"]["row_count"] > 0
    assert info["loaded_at"] and info["last_reload_error"] is None


def test_openapi_example_is_a_working_request(served: Served) -> None:
    doc = served.client.get("/openapi.json").json()
    example = doc["paths"]["/predict"]["post"]["requestBody"]["content"]["application/json"][
        "example"
    ]
    assert set(example["numerical_features"]) == set(served.predictor.schema.numerical)
    assert post(served, "/predict", example).status_code == 200


def test_metrics_move_and_admin_reload_needs_the_key(served: Served) -> None:
    before = served.client.get("/metrics").text
    post(served, "/predict", served.requests[0])
    after = served.client.get("/metrics").text
    sample = 'http_requests_total{endpoint="/predict",method="POST",status="200"}'
    assert metric_value(after, sample) == metric_value(before, sample) + 1
    classes = sum(metric_value(after, f'predictions_total{{prediction="{c}"}}') for c in "01")
    assert classes >= 1
    assert metric_value(after, f'model_loaded_info{{version="{served.version}"}}') == 1
    assert metric_value(after, 'model_reloads_total{result="success"}') == 1
    assert "prediction_log_buffer_depth" in after and "prediction_log_dropped_total" in after

    assert served.client.post("/admin/reload").status_code == 401
    assert served.client.post("/admin/reload", headers={"X-API-Key": "nope"}).status_code == 401
    response = served.client.post("/admin/reload", headers={"X-API-Key": ADMIN_KEY})
    assert response.status_code == 200
    assert response.json() == {"model_version": served.version, "changed": False, "error": None}


def test_predictions_are_logged(served: Served) -> None:
    ids = [f"log-{uuid.uuid4().hex[:12]}" for _ in range(5)]
    for rid, request in zip(ids, served.requests, strict=False):
        assert post(served, "/predict", request, headers={"X-Request-ID": rid}).status_code == 200
    wait_until(lambda: logged_request_ids(served.database_url, ids) == set(ids))


def test_application_ids_are_logged_and_joinable(served: Served) -> None:
    """An application_id sent over HTTP lands in loan_data.predictions, once per answer."""
    app_id = f"APP-{uuid.uuid4().hex[:12]}"
    single = post(served, "/predict", served.requests[0] | {"application_id": app_id})
    assert single.status_code == 200, single.text
    assert single.json()["application_id"] == app_id
    records = [served.requests[1] | {"application_id": app_id}, served.requests[2]]
    batch = post(served, "/predict/batch", {"records": records})
    assert batch.status_code == 200, batch.text
    assert [p["application_id"] for p in batch.json()["predictions"]] == [app_id, None]
    bad = post(served, "/predict", served.requests[0] | {"application_id": "x" * 65})
    assert bad.status_code == 422 and bad.json()["field"] == "application_id"

    def logged() -> list[str]:
        return logged_prediction_ids(served.database_url, app_id)

    wait_until(lambda: len(logged()) == 2)
    answered = {single.json()["prediction_id"], batch.json()["predictions"][0]["prediction_id"]}
    assert set(logged()) == answered


def test_bench_quick_smoke(served: Served) -> None:
    """``bench/serve.py --quick`` against this database (its model is already trained).

    One torch thread, like the test server: on a busy 2-core machine two threads per forward
    pass make every call several times slower.
    """
    env = {**os.environ, "TORCH_NUM_THREADS": "1"}
    result = subprocess.run(
        [sys.executable, "bench/serve.py", "--quick", "--database-url", served.database_url],
        cwd=REPO_ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert result.returncode == 0, result.stdout + result.stderr
    assert "HTTP / in-process" in result.stdout


def test_concurrent_requests_are_micro_batched_and_all_logged(served: Served) -> None:
    """32 clients at once over real HTTP: every answer equals the in-process model's, some
    share a forward pass (the batch-size histogram), and each answer is logged once."""
    from concurrent.futures import ThreadPoolExecutor

    import httpx

    requests = [served.requests[i % len(served.requests)] for i in range(256)]
    expected = in_process_probabilities(served.predictor, requests)
    before = served.client.get("/metrics").text
    rid = f"mb-{uuid.uuid4().hex[:10]}"

    def client_work(k: int) -> list[tuple[int, dict]]:
        out = []
        with httpx.Client(base_url=served.server.base_url, timeout=60) as client:
            for i in range(k, len(requests), 32):
                response = client.post(
                    "/predict", json=requests[i], headers={"X-Request-ID": f"{rid}-{i}"}
                )
                assert response.status_code == 200, response.text
                out.append((i, response.json()))
        return out

    with ThreadPoolExecutor(32) as pool:
        answers = dict(item for part in pool.map(client_work, range(32)) for item in part)
    for i, body in answers.items():
        assert body["probability"] == pytest.approx(expected[i], abs=1e-6)
    after = served.client.get("/metrics").text
    count = metric_value(after, "predict_batch_rows_count") - metric_value(
        before, "predict_batch_rows_count"
    )
    rows = metric_value(after, "predict_batch_rows_sum") - metric_value(
        before, "predict_batch_rows_sum"
    )
    assert count == 256 and rows > count  # observed once per request; some passes were shared
    ids = {f"{rid}-{i}" for i in range(256)}
    wait_until(lambda: logged_request_ids(served.database_url, ids) == ids)
