"""Several model lines from one server: ``/predict?model=NAME`` over real HTTP and PostgreSQL.

Two sources with different schemas (lending_club and credit_data), each with its own active
model; the default line answers without ``model``, the other one by name, each with its own
feature schema, and a newly activated model of a named line is hot-swapped like the default.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import httpx
import pytest

from src.pipeline.deployment import activate
from tests.e2e.helpers import (
    active_predictor,
    collect_rows,
    fresh_database,
    in_process_probabilities,
    pipeline_env,
    real_requests,
    train_model,
)
from tests.e2e.server import ApiServer, running_server, wait_until
from tests.e2e.test_lifecycle import corrupt_and_activate

pytestmark = [pytest.mark.e2e, pytest.mark.slow]

DEFAULT, OTHER = "lending_club", "credit_data"


@dataclass
class Lines:
    url: str
    client: httpx.Client
    versions: dict[str, str]
    requests: dict[str, list[dict[str, Any]]]
    predictors: dict[str, Any]
    server: ApiServer
    swapped_to: list[str]  # versions a test activated on the OTHER line, in order


@pytest.fixture(scope="module")
def lines() -> Iterator[Lines]:
    with fresh_database() as url:
        versions: dict[str, str] = {}
        with pipeline_env(url):
            for source in (DEFAULT, OTHER):
                collect_rows(source=source)
                versions[source] = train_model(source=source)  # first model: active
        predictors = {s: active_predictor(url, source=s) for s in (DEFAULT, OTHER)}
        requests = {s: real_requests(url, predictors[s].schema, 5, source=s) for s in predictors}
        assert set(predictors[DEFAULT].schema.features) != set(predictors[OTHER].schema.features)
        with running_server(url, DATA_SOURCE=DEFAULT) as server, server.client() as client:
            yield Lines(url, client, versions, requests, predictors, server, [])


def test_each_line_is_served_with_its_own_model_and_schema(lines: Lines) -> None:
    client = lines.client
    default = client.post("/predict", json=lines.requests[DEFAULT][0])
    assert default.status_code == 200, default.text
    assert default.json()["model_version"] == lines.versions[DEFAULT]
    named = client.post("/predict", params={"model": DEFAULT}, json=lines.requests[DEFAULT][0])
    assert named.json()["model_version"] == lines.versions[DEFAULT]

    other = client.post("/predict", params={"model": OTHER}, json=lines.requests[OTHER][0])
    assert other.status_code == 200, other.text
    assert other.json()["model_version"] == lines.versions[OTHER]
    expected = in_process_probabilities(lines.predictors[OTHER], lines.requests[OTHER])
    assert other.json()["probability"] == pytest.approx(expected[0], abs=1e-6)

    batch = client.post(
        "/predict/batch?explain=true",
        params={"model": OTHER},
        json={"records": lines.requests[OTHER]},
    )
    assert batch.status_code == 200, batch.text
    assert batch.json()["model_version"] == lines.versions[OTHER]
    got = [p["probability"] for p in batch.json()["predictions"]]
    assert got == pytest.approx(expected, abs=1e-6)

    # Each line validates against its own schema: a lending_club body is wrong for credit_data.
    wrong = client.post("/predict", params={"model": OTHER}, json=lines.requests[DEFAULT][0])
    assert wrong.status_code == 422 and wrong.json()["field"]
    # The default line is untouched by the other line being loaded.
    again = client.post("/predict", json=lines.requests[DEFAULT][0])
    assert again.json()["model_version"] == lines.versions[DEFAULT]


def test_unknown_line_is_404_naming_the_known_lines(lines: Lines) -> None:
    response = lines.client.post(
        "/predict", params={"model": "no_such_line"}, json=lines.requests[DEFAULT][0]
    )
    assert response.status_code == 404
    detail = response.json()["detail"]
    assert "unknown model line 'no_such_line'" in detail
    assert DEFAULT in detail and OTHER in detail
    batch = lines.client.post(
        "/predict/batch", params={"model": "no_such_line"}, json={"records": []}
    )
    assert batch.status_code == 404


def test_a_named_line_hot_swaps_to_its_new_active_model(lines: Lines) -> None:
    client = lines.client
    request = lines.requests[OTHER][0]
    first = client.post("/predict", params={"model": OTHER}, json=request).json()
    assert first["model_version"] == lines.versions[OTHER]  # cached now
    with pipeline_env(lines.url):
        second = train_model(source=OTHER)
        activate(model_version=second)

    def served_by_second() -> bool:
        response = client.post("/predict", params={"model": OTHER}, json=request)
        return response.status_code == 200 and response.json()["model_version"] == second

    wait_until(served_by_second)
    lines.swapped_to.append(second)
    default = client.post("/predict", json=lines.requests[DEFAULT][0])
    assert default.json()["model_version"] == lines.versions[DEFAULT]


def test_a_named_line_keeps_its_model_when_the_new_one_is_corrupt(lines: Lines) -> None:
    if not lines.swapped_to:
        pytest.skip("needs the hot-swap test's second model")
    serving = lines.swapped_to[-1]
    corrupt_and_activate(lines.url, lines.versions[OTHER])  # checksum now fails
    message = f"cannot load model {lines.versions[OTHER]} of line '{OTHER}'"
    wait_until(lambda: message in lines.server.log_text(), interval=0.2)
    request = lines.requests[OTHER][0]
    answer = lines.client.post("/predict", params={"model": OTHER}, json=request)
    assert answer.status_code == 200 and answer.json()["model_version"] == serving
