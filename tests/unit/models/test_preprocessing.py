from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest
import torch

from src.data.feature_schema import FeatureSchema
from src.exceptions import InvalidInputError
from src.models.preprocessing import Preprocessor
from tests.unit.models.conftest import SCHEMA, make_frame


@pytest.fixture
def fitted() -> tuple[Preprocessor, pd.DataFrame]:
    frame, _ = make_frame(300, seed=0)
    return Preprocessor.fit(frame, SCHEMA), frame


def test_layout_and_dtypes(fitted: tuple[Preprocessor, pd.DataFrame]) -> None:
    pre, frame = fitted
    x_cat, x_num = pre.transform(frame)
    assert x_cat.dtype == torch.int64 and x_num.dtype == torch.float32
    assert pre.cardinalities == [5, 4]  # A-D + reserved 0; CA/NY/TX + reserved 0
    assert pre.categories == {"grade": ["A", "B", "C", "D"], "state": ["CA", "NY", "TX"]}
    # income had missing values -> one indicator; rate/count never missing -> none.
    assert pre.indicator_columns == ["income"]
    assert pre.n_numerical_out == 4
    assert x_cat.shape == (300, 2) and x_num.shape == (300, 4)
    assert pre.numerical_groups == [[0, 3], [1], [2]]
    assert x_cat.min() >= 0 and (x_cat.max(0).values < torch.tensor(pre.cardinalities)).all()


def test_round_trip_through_json_gives_identical_tensors(
    fitted: tuple[Preprocessor, pd.DataFrame],
) -> None:
    pre, frame = fitted
    restored = Preprocessor.from_dict(json.loads(json.dumps(pre.to_dict())))
    a, b = pre.transform(frame), restored.transform(frame)
    assert torch.equal(a[0], b[0]) and torch.equal(a[1], b[1])
    assert restored.to_dict() == pre.to_dict()


def test_unseen_and_missing_categories_map_to_zero(
    fitted: tuple[Preprocessor, pd.DataFrame],
) -> None:
    pre, frame = fitted
    rows = frame.iloc[:3].copy().reset_index(drop=True)
    rows["grade"] = ["A", "Z", "C"]
    rows["state"] = [None, "NY", "WA"]
    x_cat, _ = pre.transform(rows)
    assert x_cat[:, 0].tolist() == [1, 0, 3]
    assert x_cat[:, 1].tolist() == [0, 2, 0]
    # Missing (None) is not "unseen"; a new value is.
    assert pre.unseen_categories(rows) == [[], ["grade"], ["state"]]


def test_missing_numeric_is_imputed_with_median_and_flagged(
    fitted: tuple[Preprocessor, pd.DataFrame],
) -> None:
    pre, frame = fitted
    rows = frame.iloc[:2].copy().reset_index(drop=True)
    rows.loc[0, "income"] = np.nan
    rows.loc[1, "income"] = pre.medians["income"]
    _, x_num = pre.transform(rows)
    assert x_num[0, 0] == x_num[1, 0], "a missing value must look like the median"
    assert x_num[:, 3].tolist() == [1.0, 0.0], "and only the missing one is flagged"
    expected = (np.log1p(pre.medians["income"]) - pre.means["income"]) / pre.stds["income"]
    assert float(x_num[1, 0]) == pytest.approx(expected, abs=1e-5)


def test_skewed_money_column_gets_log_and_standardisation(
    fitted: tuple[Preprocessor, pd.DataFrame],
) -> None:
    pre, frame = fitted
    assert "income" in pre.log_columns and "rate" not in pre.log_columns
    _, x_num = pre.transform(frame)
    # Standardised on the training data itself (indicator-free columns: exact mean 0, std 1).
    assert float(x_num[:, 1].mean()) == pytest.approx(0.0, abs=1e-5)
    assert float(x_num[:, 1].std(unbiased=False)) == pytest.approx(1.0, abs=1e-4)


def test_constant_and_all_missing_numeric_columns_are_safe() -> None:
    schema = FeatureSchema(
        categorical=(), numerical=("const", "empty"), target="y", positive_label="1"
    )
    frame = pd.DataFrame({"const": [3.0, 3.0, 3.0], "empty": [np.nan, np.nan, np.nan]})
    pre = Preprocessor.fit(frame, schema)
    _, x_num = pre.transform(frame)
    assert torch.isfinite(x_num).all()
    assert pre.cardinalities == []
    json.dumps(pre.to_dict(), allow_nan=False)  # strict JSON: no NaN anywhere in the state


def test_missing_column_raises_invalid_input(fitted: tuple[Preprocessor, pd.DataFrame]) -> None:
    pre, frame = fitted
    with pytest.raises(InvalidInputError) as err:
        pre.transform(frame.drop(columns=["rate"]))
    assert err.value.field == "rate"


def test_text_in_numeric_column_raises_invalid_input(
    fitted: tuple[Preprocessor, pd.DataFrame],
) -> None:
    pre, frame = fitted
    rows = frame.iloc[:2].copy().reset_index(drop=True)
    rows["count"] = rows["count"].astype(object)
    rows.loc[1, "count"] = "lots"
    with pytest.raises(InvalidInputError) as err:
        pre.transform(rows)
    assert err.value.field == "count"


def test_reference_values_are_mode_and_median() -> None:
    schema = FeatureSchema(categorical=("c",), numerical=("x",), target="y", positive_label="1")
    frame = pd.DataFrame({"c": ["b", "a", "b", None], "x": [1.0, 5.0, np.nan, 2.0]})
    pre = Preprocessor.fit(frame, schema)
    assert pre.reference_values() == {"c": "b", "x": 2.0}


def test_non_default_index_and_numeric_like_categories() -> None:
    schema = FeatureSchema(categorical=("c",), numerical=("x",), target="y", positive_label="1")
    frame = pd.DataFrame({"c": ["1", "2", "2"], "x": [1.0, 2.0, 3.0]}, index=[10, 10, 4])
    pre = Preprocessor.fit(frame, schema)
    x_cat, _ = pre.transform(pd.DataFrame({"c": [2, "1"], "x": [1.0, 1.0]}, index=[7, 7]))
    assert x_cat[:, 0].tolist() == [2, 1]


HUGE_SCHEMA = FeatureSchema(
    categorical=(), numerical=("x",), target="y", positive_label="1", id_column=None
)


def test_one_value_past_1e103_still_gets_the_log_and_keeps_the_feature() -> None:
    # skew() of raw values cubes 1e103 -> inf -> NaN skew: the log was skipped and the
    # other 99 values all scaled to the same number (the feature was erased).
    frame = pd.DataFrame({"x": np.r_[np.linspace(1.0, 100.0, 99), 1e103]})
    pre = Preprocessor.fit(frame, HUGE_SCHEMA)
    assert pre.log_columns == ["x"]
    _, x_num = pre.transform(frame)
    assert torch.isfinite(x_num).all() and x_num[:99, 0].unique().numel() == 99


def test_values_near_the_float_limit_give_finite_statistics() -> None:
    frame = pd.DataFrame({"x": np.r_[np.linspace(1.0, 100.0, 50), [1.797e308] * 50]})
    pre = Preprocessor.fit(frame, HUGE_SCHEMA)
    assert np.isfinite([pre.means["x"], pre.stds["x"], pre.medians["x"]]).all()
    _, x_num = pre.transform(frame)
    assert torch.isfinite(x_num).all()


def test_non_finite_fitted_state_is_refused() -> None:
    frame = pd.DataFrame({"x": np.linspace(1.0, 100.0, 10)})
    pre = Preprocessor.fit(frame, HUGE_SCHEMA)
    pre.means["x"] = float("inf")
    with pytest.raises(InvalidInputError, match="x: training mean is inf"):
        pre.check_finite()
