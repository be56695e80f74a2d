"""Body parsing and batch shape checks: every bad input is a 422-style error naming a field."""

from __future__ import annotations

import pytest

from src.api.inference import BatchTooLarge, batch_payloads, item_request_ids, parse_json
from src.exceptions import InvalidInputError
from src.pipeline.serving import _jsonable


@pytest.mark.parametrize("raw", [b"", b"   ", b"\n"])
def test_empty_body(raw: bytes) -> None:
    with pytest.raises(InvalidInputError) as info:
        parse_json(raw)
    assert info.value.field == "body"
    assert "empty" in info.value.message


@pytest.mark.parametrize("raw", [b"not json", b"{", b"\xff\xfe\x00garbage", b"{'a': 1}"])
def test_non_json_body(raw: bytes) -> None:
    with pytest.raises(InvalidInputError) as info:
        parse_json(raw)
    assert info.value.field == "body"


def test_deeply_nested_json_is_422_not_recursion_crash() -> None:
    with pytest.raises(InvalidInputError):
        parse_json(b"[" * 100_000 + b"]" * 100_000)


def test_nan_literal_decodes_to_a_float_for_field_level_rejection() -> None:
    value = parse_json(b'{"x": NaN, "y": -Infinity}')
    assert value["x"] != value["x"]
    assert value["y"] == float("-inf")


@pytest.mark.parametrize(
    ("payload", "field"),
    [
        ([], "body"),
        ("text", "body"),
        ({}, "records"),
        ({"records": {}}, "records"),
        ({"records": []}, "records"),
        ({"records": [{}], "extra": 1}, "extra"),
    ],
)
def test_batch_shape_errors_name_the_field(payload: object, field: str) -> None:
    with pytest.raises(InvalidInputError) as info:
        batch_payloads(payload, max_size=10)
    assert info.value.field == field


def test_batch_over_the_cap() -> None:
    with pytest.raises(BatchTooLarge) as info:
        batch_payloads({"records": [{}] * 11}, max_size=10)
    assert (info.value.size, info.value.limit) == (11, 10)
    assert batch_payloads({"records": [{}] * 10}, max_size=10) == [{}] * 10


def test_item_request_ids_are_unique_and_fit_the_column() -> None:
    assert item_request_ids("abc", 3) == ["abc-0", "abc-1", "abc-2"]
    long_ids = item_request_ids("x" * 64, 1001)
    assert len(set(long_ids)) == 1001
    assert all(len(i) <= 64 for i in long_ids)
    assert long_ids == item_request_ids("x" * 64, 1001)  # stable for a retried request


def test_jsonable_handles_numpy_and_nan() -> None:
    np = pytest.importorskip("numpy")
    assert _jsonable(np.float32(0.5)) == 0.5
    assert isinstance(_jsonable(np.int64(3)), int)
    assert _jsonable(float("nan")) is None
    assert _jsonable("NY") == "NY"
    assert _jsonable(None) is None


@pytest.mark.parametrize(
    ("raw", "field"),
    [
        (b'{"categorical_features": {"term": "\\ud800"}}', "categorical_features.term"),
        (
            b'{"records": [{}, {"numerical_features": {"x": ["\\udfff"]}}]}',
            "records[1].numerical_features.x[0]",
        ),
        (b'{"categorical_features": {"\\ud800": "x"}}', "categorical_features"),
        (b'{"\\ud800": 1}', "body"),
        (b'{"categorical_features": {"term": "a\\u0000b"}}', "categorical_features.term"),
    ],
)
def test_unstorable_strings_are_refused_with_their_path(raw: bytes, field: str) -> None:
    with pytest.raises(InvalidInputError) as info:
        parse_json(raw)
    assert info.value.field == field
    info.value.field.encode("utf-8")  # the error itself must be renderable


def test_paired_surrogate_escapes_are_fine() -> None:
    assert parse_json(b'{"a": "\\ud83d\\ude00"}') == {"a": "\U0001f600"}


def test_raw_bytes_must_be_utf8() -> None:
    with pytest.raises(InvalidInputError) as info:
        parse_json(b'{"a": "\xed\xa0\x80"}')  # an encoded surrogate: not valid UTF-8
    assert "UTF-8" in info.value.message
