"""Hand-written hostile inputs over real HTTP, on top of what schemathesis generates.

Generators rarely produce bytes that are not JSON at all, nesting deep enough to exhaust a
recursive parser, numbers past float64, or text that PostgreSQL's JSONB refuses; these cases
are written out.  Each one has an exact expected status, and every response must also be a
documented status whose body validates against the live ``/openapi.json`` (schemathesis's
``validate_response``).  Accepted requests must land in ``loan_data.predictions``.
"""

from __future__ import annotations

import copy
import json
import uuid
from typing import Any

import httpx
import pytest
import schemathesis

from tests.e2e.helpers import logged_request_ids
from tests.e2e.server import wait_until
from tests.fuzz.conftest import Target

pytestmark = [pytest.mark.integration, pytest.mark.e2e, pytest.mark.slow]

JSON = {"Content-Type": "application/json"}
MAX_REQUEST_BYTES = 2_000_000  # the default MAX_REQUEST_BYTES


@pytest.fixture(scope="module")
def openapi(target: Target) -> Any:
    return schemathesis.openapi.from_url(target.openapi_url)


def conforming(openapi: Any, path: str, response: httpx.Response) -> httpx.Response:
    """Assert ``response`` is documented for ``POST path`` and matches its schema."""
    operation = openapi[path]["POST"]
    documented = {str(code) for code in operation.definition.raw["responses"]}
    assert str(response.status_code) in documented, (response.status_code, response.text[:300])
    assert response.headers["content-type"].startswith("application/json")
    operation.validate_response(response)  # raises on a schema violation
    return response


def with_value(base: dict[str, Any], section: str, name: str, value: Any) -> dict[str, Any]:
    request = copy.deepcopy(base)
    request[section][name] = value
    return request


def raw_with(base: dict[str, Any], section: str, name: str, literal: str) -> bytes:
    """The JSON text of ``base`` with one value replaced by a literal JSON token."""
    marker = "__LITERAL__"
    text = json.dumps(with_value(base, section, name, marker))
    return text.replace(f'"{marker}"', literal).encode()


def cases(target: Target) -> list[tuple[str, bytes, int]]:
    """(name, body, expected status) for POST /predict."""
    base, schema = target.request, target.schema
    cat, num = schema.categorical[0], schema.numerical[0]

    def dump(request: Any) -> bytes:
        return json.dumps(request).encode()

    def category(value: Any) -> bytes:
        return dump(with_value(base, "categorical_features", cat, value))

    def category_literal(literal: str) -> bytes:
        return raw_with(base, "categorical_features", cat, literal)

    def number(literal: str) -> bytes:
        return raw_with(base, "numerical_features", num, literal)

    deep = 100_000
    return [
        # --- huge and tiny numbers
        ("max float64", number("1.7976931348623157e308"), 200),
        ("min float64", number("-1.7976931348623157e308"), 200),
        ("denormal", number("5e-324"), 200),
        ("underflows to 0", number("1e-400"), 200),
        ("30-digit integer", number("123456789012345678901234567890"), 200),
        ("overflows to inf", number("1e400"), 422),
        ("overflows to -inf", number("-1e400"), 422),
        ("integer past float64", number(str(10**400)), 422),
        ("5000-digit integer", number("9" * 5000), 422),
        ("NaN literal", number("NaN"), 422),
        ("Infinity literal", number("Infinity"), 422),
        ("number as string", number('"12.5"'), 422),
        ("boolean as number", number("true"), 422),
        # --- unicode
        ("emoji category", category("\U0001f600\U0001f4b8"), 200),
        ("right-to-left category", category("\u0645\u0631\u062d\u0628\u0627"), 200),
        ("combining marks", category("e\u0301\u0308\u0323"), 200),
        ("zero-width and BOM chars", category("\u200b\ufeff\u2028"), 200),
        ("escaped surrogate pair", category_literal('"\\ud83d\\ude00"'), 200),
        ("256 characters", category("\u00e9" * 256), 200),
        ("257 characters", category("\u00e9" * 257), 422),
        ("lone surrogate", category_literal('"\\ud800"'), 422),
        ("NUL character", category_literal('"a\\u0000b"'), 422),
        ("unicode feature name", dump(with_value(base, "numerical_features", "\u00fcber", 1)), 422),
        ("latin-1 bytes", dump(base).replace(b"{", b"{\xe9", 1), 422),
        ("UTF-8 BOM", b"\xef\xbb\xbf" + dump(base), 422),
        ("UTF-16 body", json.dumps(base).encode("utf-16"), 422),
        # --- deeply nested JSON
        ("nested arrays", b"[" * deep + b"]" * deep, 422),
        ("nested objects", b'{"a":' * deep + b"1" + b"}" * deep, 422),
        ("nested category", category(json.loads("[" * 200 + "]" * 200)), 422),
        ("deep feature value", number("[" * deep + "]" * deep), 422),
        ("nesting past the size limit", b"[" * MAX_REQUEST_BYTES + b"]" * 10, 413),
        # --- empty and degenerate bodies
        ("empty body", b"", 422),
        ("whitespace body", b" \r\n\t ", 422),
        ("empty object", b"{}", 422),
        ("empty sections", b'{"categorical_features": {}, "numerical_features": {}}', 422),
        ("null", b"null", 422),
        ("empty array", b"[]", 422),
        ("empty string", b'""', 422),
        ("truncated", dump(base)[:-1], 422),
    ]


def test_hostile_single_requests(target: Target, openapi: Any) -> None:
    accepted: list[str] = []
    for name, body, expected in cases(target):
        rid = f"hostile-{uuid.uuid4().hex[:16]}"
        response = target.client.post(
            "/predict", content=body, headers={**JSON, "X-Request-ID": rid}
        )
        assert response.status_code == expected, (name, response.status_code, response.text[:300])
        conforming(openapi, "/predict", response)
        if expected == 200:
            assert 0.0 <= response.json()["probability"] <= 1.0, name
            accepted.append(rid)
        elif expected == 422:
            assert response.json()["field"], name
    # Accepted odd unicode / extreme numbers are storable: every one reaches the log table.
    wait_until(lambda: logged_request_ids(target.database_url, accepted) == set(accepted))


def test_hostile_batches(target: Target, openapi: Any) -> None:
    base, schema = target.request, target.schema
    cat, num = schema.categorical[0], schema.numerical[0]
    unicode_rows = [
        with_value(base, "categorical_features", cat, f"\U0001f600{i}\u0645") for i in range(1000)
    ]
    bad_row = copy.deepcopy(unicode_rows[:600])
    bad_row[537]["numerical_features"][num] = 10**400
    expectations: list[tuple[str, bytes, int, str | None]] = [
        ("1000 unicode rows", json.dumps({"records": unicode_rows}).encode(), 200, None),
        (
            "one huge number deep in a batch",
            json.dumps({"records": bad_row}).encode(),
            422,
            f"records[537].numerical_features.{num}",
        ),
        ("no records", b'{"records": []}', 422, "records"),
        ("records not a list", b'{"records": {}}', 422, "records"),
        ("empty body", b"", 422, "body"),
        ("nested records", b'{"records": ' + b"[" * 100_000 + b"]" * 100_000 + b"}", 422, "body"),
        ("extra field", b'{"records": [], "x": 1}', 422, "x"),
    ]
    for name, body, expected, field in expectations:
        response = target.client.post("/predict/batch", content=body, headers=JSON)
        assert response.status_code == expected, (name, response.status_code, response.text[:300])
        conforming(openapi, "/predict/batch", response)
        if field is not None:
            assert response.json()["field"] == field, (name, response.json())
    batch = target.client.post("/predict/batch", json={"records": unicode_rows[:3]})
    assert batch.json()["predictions"][0]["unseen_categories"] == [cat]


@pytest.mark.parametrize(
    ("headers", "query", "expected"),
    [
        ({"X-Request-ID": "x" * 65}, "", 422),
        ({"X-Request-ID": "a b"}, "", 422),
        ({"X-Request-ID": "caf\u00e9".encode("latin-1")}, "", 422),
        ({"X-Request-ID": ""}, "", 200),
        ({}, "?explain=maybe", 422),
        ({}, "?explain=true&explain=false", 200),
        ({"Content-Type": "text/plain"}, "", 200),  # the body is JSON whatever the header says
    ],
)
def test_hostile_headers_and_query(
    target: Target, openapi: Any, headers: dict[str, Any], query: str, expected: int
) -> None:
    response = target.client.post(
        f"/predict{query}", content=json.dumps(target.request).encode(), headers={**JSON, **headers}
    )
    assert response.status_code == expected, response.text[:300]
    conforming(openapi, "/predict", response)
