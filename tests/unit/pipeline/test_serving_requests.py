import math

import pytest

from src.data.application_ids import request_application_id
from src.data.feature_schema import FeatureSchema
from src.exceptions import InvalidInputError
from src.pipeline.request_records import request_to_record

SCHEMA = FeatureSchema(
    categorical=("term", "grade"),
    numerical=("amount", "income"),
    target="Class",
    positive_label="bad",
    nullable=("income",),
)


def good() -> dict:
    return {
        "categorical_features": {"term": "term_36", "grade": "B"},
        "numerical_features": {"amount": 1000, "income": 52000.5},
    }


def test_valid_request_becomes_typed_record():
    assert request_to_record(good(), schema=SCHEMA) == {
        "term": "term_36",
        "grade": "B",
        "amount": 1000.0,
        "income": 52000.5,
    }


def test_nullable_feature_may_be_missing_or_null():
    req = good()
    del req["numerical_features"]["income"]
    assert request_to_record(req, schema=SCHEMA)["income"] is None
    req["numerical_features"]["income"] = None
    assert request_to_record(req, schema=SCHEMA)["income"] is None


def test_integer_category_is_accepted_as_string():
    req = good()
    req["categorical_features"]["grade"] = 2
    assert request_to_record(req, schema=SCHEMA)["grade"] == "2"


@pytest.mark.parametrize(
    ("mutate", "field", "fragment"),
    [
        (lambda r: r["numerical_features"].pop("amount"), "numerical_features.amount", "missing"),
        (
            lambda r: r["categorical_features"].update(colour="red"),
            "categorical_features.colour",
            "unknown feature",
        ),
        (
            lambda r: r["categorical_features"].update(amount="1"),
            "categorical_features.amount",
            "feature 'amount' is numerical but was sent under categorical_features",
        ),
        (
            lambda r: r["numerical_features"].update(amount="1000"),
            "numerical_features.amount",
            "expected a number",
        ),
        (
            lambda r: r["numerical_features"].update(amount=True),
            "numerical_features.amount",
            "expected a number",
        ),
        (
            lambda r: r["numerical_features"].update(amount=math.nan),
            "numerical_features.amount",
            "finite",
        ),
        (
            lambda r: r["numerical_features"].update(amount=math.inf),
            "numerical_features.amount",
            "finite",
        ),
        (
            lambda r: r["categorical_features"].update(term=["a"]),
            "categorical_features.term",
            "string category",
        ),
        (lambda r: r.update(extra=1), "extra", "unknown top-level field"),
        (lambda r: r.update(numerical_features=[1, 2]), "numerical_features", "object"),
    ],
)
def test_bad_requests_name_the_field(mutate, field, fragment):
    req = good()
    mutate(req)
    with pytest.raises(InvalidInputError) as info:
        request_to_record(req, schema=SCHEMA)
    assert info.value.field == field
    assert fragment in info.value.message


def test_empty_body_names_the_first_missing_feature():
    with pytest.raises(InvalidInputError) as info:
        request_to_record({}, schema=SCHEMA)
    assert info.value.field == "categorical_features.term"


def test_prefix_is_prepended_for_batches():
    req = good()
    req["numerical_features"]["amount"] = "x"
    with pytest.raises(InvalidInputError) as info:
        request_to_record(req, schema=SCHEMA, prefix="records[3].")
    assert info.value.field == "records[3].numerical_features.amount"


def test_flat_body_says_features_must_be_nested():
    flat = {"term": "term_36", "grade": "B", "amount": 1000, "income": 5.0}
    with pytest.raises(InvalidInputError) as info:
        request_to_record(flat, schema=SCHEMA)
    assert info.value.field == "body"
    message = info.value.message
    assert "must nest features under 'categorical_features' and 'numerical_features'" in message
    assert "['amount', 'grade', 'income', 'term']" in message  # every key, not just one


def test_flat_batch_record_names_the_record():
    with pytest.raises(InvalidInputError) as info:
        request_to_record({"grade": "B"}, schema=SCHEMA, prefix="records[2].")
    assert info.value.field == "records[2]"
    assert "got top-level keys ['grade']" in info.value.message


def test_feature_name_beside_the_sections_is_called_a_layout_error():
    req = good()
    req["amount"] = 5
    with pytest.raises(InvalidInputError) as info:
        request_to_record(req, schema=SCHEMA)
    assert "must nest features" in info.value.message and "feature names" in info.value.message


def test_many_unknown_keys_are_listed_boundedly():
    flat = {f"k{i:03d}" + "x" * 100: 1 for i in range(500)}
    with pytest.raises(InvalidInputError) as info:
        request_to_record(flat, schema=SCHEMA)
    assert "(500 in all)" in info.value.message and len(info.value.message) < 1000


def test_categorical_feature_under_numerical_is_reported_as_misplaced():
    req = good()
    req["numerical_features"]["grade"] = req["categorical_features"].pop("grade")
    with pytest.raises(InvalidInputError) as info:
        request_to_record(req, schema=SCHEMA)
    assert info.value.field == "numerical_features.grade"
    assert info.value.message == (
        "feature 'grade' is categorical but was sent under numerical_features"
    )


def test_numerical_feature_under_categorical_is_reported_as_misplaced():
    req = good()
    req["categorical_features"]["amount"] = req["numerical_features"].pop("amount")
    with pytest.raises(InvalidInputError) as info:
        request_to_record(req, schema=SCHEMA, prefix="records[0].")
    assert info.value.field == "records[0].categorical_features.amount"
    assert "is numerical but was sent under categorical_features" in info.value.message


def test_application_id_is_accepted_and_kept_out_of_the_feature_record():
    req = good() | {"application_id": "APP-2024-0001"}
    assert request_to_record(req, schema=SCHEMA) == request_to_record(good(), schema=SCHEMA)
    assert request_application_id(req) == "APP-2024-0001"
    assert request_application_id(good()) is None
    assert request_application_id(good() | {"application_id": None}) is None  # null = absent
    assert request_application_id(good() | {"application_id": "é" * 64}) == "é" * 64


@pytest.mark.parametrize(
    ("value", "fragment"),
    [
        (12345, "got int"),
        (["a"], "got list"),
        (True, "got bool"),
        ("", "is empty"),
        ("x" * 65, "65 characters long; at most 64"),
        ("a\tb", "control character"),
        ("line\n", "control character"),
        ("nul\x00", "control character"),
        ("c1\x85", "control character"),
    ],
)
def test_bad_application_ids_name_the_field(value, fragment):
    req = good() | {"application_id": value}
    with pytest.raises(InvalidInputError) as info:
        request_to_record(req, schema=SCHEMA, prefix="records[3].")
    assert info.value.field == "records[3].application_id"
    assert fragment in info.value.message
    with pytest.raises(InvalidInputError) as info:
        request_application_id(req)
    assert info.value.field == "application_id"


def test_unknown_top_level_field_mentions_the_optional_id():
    with pytest.raises(InvalidInputError) as info:
        request_to_record(good() | {"applicationId": "A1"}, schema=SCHEMA)
    assert info.value.field == "applicationId"
    assert "'application_id'" in info.value.message
