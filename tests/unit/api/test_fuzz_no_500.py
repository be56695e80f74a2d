"""Whatever a client sends, the answer is 200, 413 or 422: never a 500."""

from __future__ import annotations

import copy
import json
import random
from typing import Any

import pytest
from fastapi.testclient import TestClient

from tests.unit.api.conftest import valid_request

pytest.importorskip("src.data.frames")

WEIRD_VALUES: list[Any] = [
    None,
    True,
    False,
    0,
    -1,
    10**30,
    10**400,
    1.5e308,
    -1.5e308,
    5e-324,
    "",
    " ",
    "36",
    "x" * 300,
    "\u0000",
    "\U0001f600",
    [],
    [1],
    {},
    {"a": 1},
    [[[]]],
    3.0,
    -0.0,
]


def mutate(rng: random.Random) -> Any:
    request: Any = valid_request()
    for _ in range(rng.randint(1, 3)):
        roll = rng.random()
        section = rng.choice(["categorical_features", "numerical_features"])
        if roll < 0.5 and isinstance(request, dict) and isinstance(request.get(section), dict):
            keys = [*request[section], "unknown", ""]
            request[section][rng.choice(keys)] = rng.choice(WEIRD_VALUES)
        elif roll < 0.65 and isinstance(request, dict):
            request[section] = rng.choice(WEIRD_VALUES)
        elif roll < 0.75 and isinstance(request, dict):
            request.pop(section, None)
        elif roll < 0.85:
            request = rng.choice(WEIRD_VALUES)
        elif isinstance(request, dict):
            request[rng.choice(["x", "records", "categorical_features "])] = 1
    return request


def test_mutated_requests_never_give_500(client: TestClient) -> None:
    rng = random.Random(1234)
    statuses: set[int] = set()
    for i in range(300):
        request = mutate(rng)
        explain = "?explain=true" if i % 3 == 0 else ""
        single = client.post(
            f"/predict{explain}",
            content=json.dumps(request),
            headers={"Content-Type": "application/json"},
        )
        records = [valid_request(), copy.deepcopy(request)]
        batch = client.post(f"/predict/batch{explain}", json={"records": records})
        for response in (single, batch):
            assert response.status_code in (200, 413, 422), (request, response.text)
            statuses.add(response.status_code)
            if response.status_code == 422:
                assert response.json()["detail"]
    assert {200, 422} <= statuses


@pytest.mark.parametrize(
    "content",
    [
        b"\x00",
        b"\xff",
        b"{}" * 10,
        b'{"a":' * 5000,
        b"[" * 5000,
        b"1e999999",
        b"-",
        b"null",
        b'"\\ud800"',
        b'{"categorical_features": {"\\udc00": 1}}',
        "\u00e9".encode("latin-1"),
    ],
)
def test_garbage_bodies_are_422(client: TestClient, content: bytes) -> None:
    for path in ("/predict", "/predict/batch", "/predict?explain=true"):
        response = client.post(path, content=content, headers={"Content-Type": "application/json"})
        assert response.status_code == 422, (path, content[:20], response.text)
