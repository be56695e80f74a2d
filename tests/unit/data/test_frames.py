"""Pure parts of src.data.frames: the test split and record -> frame typing."""

from __future__ import annotations

import datetime as dt

import numpy as np
import pandas as pd
import pytest

from src.data.feature_schema import FeatureSchema
from src.data.frames import LabelledFrame, feature_dicts, is_test_row, records_to_frame
from src.exceptions import InvalidInputError

SCHEMA = FeatureSchema(
    categorical=("term", "grade"), numerical=("amount", "rate"), target="y", positive_label="bad"
)


def test_is_test_row_is_deterministic_and_source_specific():
    keys = [str(i) for i in range(2000)]
    first = [is_test_row("lc", k, test_fraction=0.2) for k in keys]
    assert first == [is_test_row("lc", k, test_fraction=0.2) for k in keys]
    assert first != [is_test_row("other", k, test_fraction=0.2) for k in keys]


def test_is_test_row_fraction_is_close_to_requested():
    hits = sum(is_test_row("lending_club", str(i), test_fraction=0.2) for i in range(10_000))
    assert 0.18 <= hits / 10_000 <= 0.22


def test_is_test_row_is_monotone_in_the_fraction():
    # A row in the 10% split stays in the 20% split: growing the fraction only adds rows.
    for i in range(1000):
        if is_test_row("s", str(i), test_fraction=0.1):
            assert is_test_row("s", str(i), test_fraction=0.2)


def test_records_to_frame_types_columns():
    records = [
        {"term": "36", "grade": "A", "amount": 1000, "rate": 0.1},
        {"term": 60, "grade": None, "amount": "2500", "rate": None},
        {"term": 36.0, "amount": 3.5, "extra": "ignored"},
    ]
    out = records_to_frame(records, SCHEMA)
    assert list(out.columns) == ["term", "grade", "amount", "rate"]
    assert out["term"].dtype == object and out["grade"].dtype == object
    assert out["term"].tolist() == ["36", "60", "36"]
    assert out["grade"].tolist() == ["A", None, None]
    assert out["amount"].dtype == np.float64 and out["rate"].dtype == np.float64
    assert out["amount"].tolist() == [1000.0, 2500.0, 3.5]
    assert np.isnan(out["rate"].iloc[1]) and np.isnan(out["rate"].iloc[2])


def test_records_to_frame_empty_keeps_columns():
    out = records_to_frame([], SCHEMA)
    assert list(out.columns) == list(SCHEMA.features) and len(out) == 0


def test_records_to_frame_rejects_non_numbers():
    with pytest.raises(InvalidInputError) as info:
        records_to_frame([{"term": "36", "grade": "A", "amount": "abc", "rate": 1}], SCHEMA)
    assert info.value.field == "amount" and "'abc'" in info.value.message


def test_feature_dicts_are_json_safe():
    out = records_to_frame([{"term": "36", "amount": 1}, {"grade": "B", "rate": 2.5}], SCHEMA)
    assert feature_dicts(out) == [
        {"term": "36", "grade": None, "amount": 1.0, "rate": None},
        {"term": None, "grade": "B", "amount": None, "rate": 2.5},
    ]


def test_labelled_frame_subset_keeps_alignment():
    features = records_to_frame([{"amount": i} for i in range(4)], SCHEMA)
    frame = LabelledFrame(
        features=features,
        labels=np.array([0, 1, 0, 1]),
        raw_ids=np.array([10, 11, 12, 13], dtype=np.int64),
        row_keys=["a", "b", "c", "d"],
        data_dates=np.array([dt.date(2026, 1, d) for d in range(1, 5)], dtype=object),
        schema=SCHEMA,
    )
    part = frame.subset(np.array([False, True, False, True]))
    assert len(part) == 2
    assert part.row_keys == ["b", "d"] and part.raw_ids.tolist() == [11, 13]
    assert part.features["amount"].tolist() == [1.0, 3.0]
    assert part.features.index.equals(pd.RangeIndex(2))
    with pytest.raises(ValueError, match="mask has shape"):
        frame.subset([True])
