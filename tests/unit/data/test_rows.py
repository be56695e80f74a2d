"""Row identity and validation of source rows (pure functions, no database)."""

from __future__ import annotations

import decimal

import numpy as np
import pandas as pd
import pytest

from src.data.feature_schema import FeatureSchema
from src.data.validation import check_rows, row_keys
from src.data.values import label_texts, received_values

SCHEMA = FeatureSchema(
    categorical=("purpose",), numerical=("income", "age"), target="label", positive_label="yes"
)
ID_SCHEMA = FeatureSchema(
    categorical=("purpose",),
    numerical=("income", "age"),
    target="label",
    positive_label="yes",
    id_column="loan_id",
)


def frame(**columns):
    base = {"purpose": ["car", "home", "car"], "income": [10.0, 20.5, 10.0], "age": [30, 40, 30]}
    base["label"] = ["yes", "no", "yes"]
    return pd.DataFrame(base | columns)


def test_id_column_value_is_the_key():
    keys, problems = row_keys(frame(loan_id=[7, 8, 9]), ID_SCHEMA)
    assert keys == ["7", "8", "9"]
    assert problems == {}


def test_float_ids_read_like_ints():
    keys, _ = row_keys(frame(loan_id=[7.0, 8.0, np.nan]), ID_SCHEMA)
    assert keys[:2] == ["7", "8"]


def test_repeated_and_missing_ids_get_distinct_keys_and_reasons():
    data = pd.concat([frame(loan_id=[1, 1, None]), frame(loan_id=[None, 1, 2])], ignore_index=True)
    keys, problems = row_keys(data, ID_SCHEMA)
    assert len(set(keys)) == len(keys)
    assert keys[0] == "1" and keys[1] == "1#1" and keys[4] == "1#2"
    assert "duplicate id '1'" in problems[1] and "occurrence 3" in problems[4]
    assert keys[2].startswith("noid:") and keys[3].startswith("noid:")
    assert problems[2] == "missing value in id column 'loan_id'"
    assert set(problems) == {1, 2, 3, 4}


def test_long_ids_are_hashed_to_fit_the_column():
    keys, _ = row_keys(frame(loan_id=["x" * 300, "y", "z"]), ID_SCHEMA)
    assert keys[0].startswith("sha256:") and len(keys[0]) < 256


def test_content_keys_count_exact_duplicates():
    keys, problems = row_keys(frame(), SCHEMA)
    assert problems == {}
    assert keys[0].endswith(":0") and keys[2].endswith(":1")
    assert keys[0].split(":")[0] == keys[2].split(":")[0]
    assert keys[1].split(":")[0] != keys[0].split(":")[0]


def test_content_keys_are_stable_across_dtype_changes_and_new_rows():
    before, _ = row_keys(frame(), SCHEMA)
    # A later file version: a gap turns the int column into floats, and rows are appended.
    later = pd.concat([frame(), frame(age=[None, 41, 42])], ignore_index=True)
    assert later["age"].dtype == np.float64
    after, _ = row_keys(later, SCHEMA)
    assert after[:3] == before
    assert len(set(after)) == len(after)


def test_content_keys_ignore_columns_outside_the_schema():
    assert row_keys(frame(extra=[1, 2, 3]), SCHEMA)[0] == row_keys(frame(), SCHEMA)[0]


def test_received_values_are_plain_json_values():
    values = received_values(pd.Series([1.0, 2.5, np.nan, np.inf]))
    assert values.tolist() == [1, 2.5, None, np.inf]
    assert type(values[0]) is int
    assert received_values(pd.Series([1, None], dtype="Int64")).tolist() == [1, None]
    mixed = received_values(pd.Series([decimal.Decimal("1.5"), pd.Timestamp("2024-01-02"), None]))
    assert mixed.tolist() == [1.5, "2024-01-02T00:00:00", None]
    assert received_values(pd.Series(["a", None, np.nan])).tolist() == ["a", None, None]


def test_label_texts_normalise_numbers_and_blanks():
    assert label_texts(pd.Series([1, 0, None])) == ["1", "0", None]
    assert label_texts(pd.Series([1.0, 0.0, np.nan])) == ["1", "0", None]
    assert label_texts(pd.Series([" yes", "", "no"])) == ["yes", None, "no"]


def test_check_rows_reasons_name_column_and_value():
    data = pd.DataFrame(
        {
            "purpose": ["car", "home", "car", "car", "bad\x00byte", "car"],
            "income": ["10", "abc", "12", "inf", "1", None],
            "age": [30, 40, 30, 30, 30, 31],
            "label": ["yes", "no", None, "maybe", "no", "no"],
        }
    )
    checked = check_rows(data, SCHEMA, labels=["yes", "no"])
    reasons = checked.reasons
    assert reasons[0] is None and reasons[5] is None
    assert reasons[1] == "non-numeric value 'abc' in numerical column 'income'"
    assert reasons[2] == "missing target value in column 'label'"
    assert "unknown target value 'maybe' in column 'label'" in reasons[3]
    assert "non-finite value 'inf' in numerical column 'income'" in reasons[3]
    assert reasons[4] == "NUL character in column 'purpose'"
    # "10" is a string in a numerical column: valid, but not yet typed.
    assert not checked.typed[0]
    assert checked.labels == ["yes", "no", None, "maybe", "no", "no"]


def test_check_rows_native_columns_are_typed():
    checked = check_rows(frame(), SCHEMA, labels=["yes", "no"])
    assert checked.reasons == [None, None, None]
    assert checked.typed.all()
    assert checked.pure == {"purpose", "income", "age"}
    assert checked.values["income"].tolist() == [10, 20.5, 10]


@pytest.mark.parametrize("value", [np.inf, -np.inf])
def test_check_rows_flags_infinite_floats(value):
    checked = check_rows(frame(income=[value, 1.0, 2.0]), SCHEMA, labels=["yes", "no"])
    assert "non-finite value" in checked.reasons[0]
    assert checked.reasons[1:] == [None, None]


def test_check_rows_without_known_labels_accepts_any_label():
    data = frame(label=["yes", "maybe", None])
    assert check_rows(data, SCHEMA, labels=None).reasons == [
        None,
        None,
        "missing target value in column 'label'",
    ]


def test_nul_in_id_or_label_is_quarantined_not_sent_to_postgres():
    data = frame(loan_id=["7", "8\x00", "9"], label=["yes", "no", "y\x00es"])
    keys, problems = row_keys(data, ID_SCHEMA)
    assert keys[1] == "8\ufffd" and problems == {1: "NUL character in id column 'loan_id'"}
    reasons = check_rows(data, ID_SCHEMA, labels=["yes", "no"]).reasons
    assert reasons[2].endswith("; NUL character in target column 'label'")


def test_braces_in_column_names_and_values_are_not_format_fields():
    schema = FeatureSchema(
        categorical=("{purpose}",), numerical=("rate{0}",), target="label", positive_label="yes"
    )
    data = pd.DataFrame({"{purpose}": ["a"], "rate{0}": ["{x}"], "label": ["{maybe}"]})
    assert check_rows(data, schema, labels=["yes", "no"]).reasons == [
        "unknown target value '{maybe}' in column 'label' (expected one of ['no', 'yes']); "
        "non-numeric value '{x}' in numerical column 'rate{0}'"
    ]
