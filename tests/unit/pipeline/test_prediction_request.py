import math

import pytest

from src.data.feature_schema import FeatureSchema
from src.exceptions import InvalidInputError
from src.pipeline.prediction import request_to_record

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
            "numerical feature",
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
