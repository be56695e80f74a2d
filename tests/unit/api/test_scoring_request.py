"""The scoring routes read their key, query and request id by hand: the same rules as FastAPI's.

``explain`` accepts what pydantic accepts for a bool; ``model`` what its Query declared
(1-128 characters, no control characters); a bad value is a 422 naming the parameter, over
HTTP too, and the hand-written OpenAPI still lists every parameter.
"""

from __future__ import annotations

import pytest
from fastapi.testclient import TestClient
from pydantic import TypeAdapter, ValidationError

from src.api.scoring_request import FALSE_WORDS, TRUE_WORDS, explain_flag, model_line
from src.exceptions import InvalidInputError
from tests.unit.api.conftest import valid_request

WORDS = [*sorted(TRUE_WORDS | FALSE_WORDS), "", "maybe", "TRUE", "No", "2", " true", "truee"]


@pytest.mark.parametrize("word", WORDS)
def test_explain_accepts_exactly_what_pydantic_accepts(word: str) -> None:
    try:
        expected: bool | None = TypeAdapter(bool).validate_python(word)
    except ValidationError:
        expected = None
    if expected is None:
        with pytest.raises(InvalidInputError) as raised:
            explain_flag(word)
        assert raised.value.field == "query.explain"
    else:
        assert explain_flag(word) is expected


def test_absent_explain_is_false_and_absent_line_is_the_default() -> None:
    assert explain_flag(None) is False
    assert model_line(None) is None


@pytest.mark.parametrize("name", ["lending_club", "x" * 128, "crédit données", "a b"])
def test_usable_line_names_pass_unchanged(name: str) -> None:
    assert model_line(name) == name


@pytest.mark.parametrize("name", ["", "x" * 129, "a\x00b", "tab\there", "new\n", "del\x7f"])
def test_unusable_line_names_name_the_parameter(name: str) -> None:
    with pytest.raises(InvalidInputError) as raised:
        model_line(name)
    assert raised.value.field == "query.model"


def test_a_bad_parameter_is_a_422_before_the_body_is_read(client: TestClient) -> None:
    response = client.post("/predict?explain=maybe", content=b"not json")
    assert response.status_code == 422
    assert response.json()["field"] == "query.explain"


def test_the_last_repeated_explain_wins_as_before(client: TestClient) -> None:
    response = client.post("/predict?explain=true&explain=false", json=valid_request())
    assert response.status_code == 200 and not response.json().get("reasons")


def test_openapi_documents_the_hand_read_parameters(client: TestClient) -> None:
    for path in ("/predict", "/predict/batch"):
        operation = client.get("/openapi.json").json()["paths"][path]["post"]
        names = {(p["in"], p["name"]) for p in operation["parameters"]}
        assert names == {("query", "explain"), ("query", "model"), ("header", "X-Request-ID")}
        assert {"APIKeyHeader": []} in operation["security"]
