"""Schema inference on columns that make no usable feature, and formatted numbers."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from src.data.feature_schema import infer_schema, infer_schema_with_exclusions
from src.data.validation import check_rows
from src.data.values import to_numbers
from src.exceptions import SchemaError

N = 300


def hostile_frame() -> pd.DataFrame:
    rng = np.random.default_rng(0)
    return pd.DataFrame(
        {
            "ref": [f"REF-{i:06d}" for i in range(N)],
            "opened": [f"2024-{1 + i % 12:02d}-{1 + i % 28:02d}" for i in range(N)],
            "balance": [f"{v:,}" for v in rng.integers(500, 2_000_000, N)],
            "rate": [f"{v:.1f}%" for v in rng.uniform(5, 25, N)],
            "nothing": [None] * N,
            "purpose": rng.choice(["car", "home"], N),
            "label": rng.choice(["yes", "no"], N),
        }
    )


def test_ids_dates_and_empty_columns_are_left_out_with_a_reason():
    schema, excluded = infer_schema_with_exclusions(
        hostile_frame(), target="label", positive_label="yes"
    )
    assert schema.categorical == ("purpose",)
    assert schema.numerical == ("balance", "rate")
    assert excluded == {
        "ref": "is identifier-like: a different value in every row (e.g. 'REF-000000')",
        "opened": "holds dates (e.g. '2024-01-01')",
        "nothing": "is empty in every row",
    }


def test_many_levels_are_left_out_and_overrides_still_win():
    frame = hostile_frame().assign(city=[f"c{i % 250}" for i in range(N)])
    _, excluded = infer_schema_with_exclusions(frame, target="label", positive_label="yes")
    assert excluded["city"] == "has 250 distinct values (more than 200)"
    forced = infer_schema(
        frame, target="label", positive_label="yes", categorical=["ref", "opened", "city"]
    )
    assert forced.categorical == ("ref", "opened", "city", "purpose")


def test_no_usable_feature_is_an_error_naming_the_columns():
    frame = hostile_frame()[["ref", "nothing", "label"]]
    with pytest.raises(SchemaError, match="no usable feature column: 'ref' is identifier-like"):
        infer_schema(frame, target="label", positive_label="yes")


def test_formatted_numbers_parse_strictly():
    values = ["1,234", "12.5%", "-1,234,567.5", ".5%", " 7 ", "1,5", "1,23", "%", "abc", None]
    parsed = to_numbers(pd.Series(values, dtype=object))
    expected = [1234.0, 12.5, -1234567.5, 0.5, 7.0] + [np.nan] * 5
    np.testing.assert_array_equal(parsed, np.array(expected))


def test_na_strings_in_a_number_column_keep_it_numeric_and_hint_at_na_values():
    income = ["NA" if i % 10 == 0 else str(1000 + i) for i in range(N)]
    frame = pd.DataFrame({"income": income, "label": ["yes", "no"] * (N // 2)})
    schema = infer_schema(frame, target="label", positive_label="yes")
    assert schema.numerical == ("income",)
    reasons = check_rows(frame, schema, labels=["yes", "no"]).reasons
    assert reasons[0] == (
        "non-numeric value 'NA' in numerical column 'income' (pass --na-values NA to read it "
        "as missing)"
    )
    assert reasons[1] is None
