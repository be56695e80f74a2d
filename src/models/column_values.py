"""Feature columns of a frame as the arrays ``Preprocessor`` works on.

Split from ``src.models.preprocessing`` to keep that module to its fitted state; these are
the column-level rules it applies on fit and transform alike (missing values, text in a
numeric column, infinities).
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from src.data.values import to_numbers
from src.exceptions import InvalidInputError


def check_columns(frame: pd.DataFrame, columns: tuple[str, ...]) -> None:
    for col in columns:
        if col not in frame.columns:
            raise InvalidInputError(col, "required feature column is missing")


def categorical_strings(series: pd.Series) -> pd.Series:
    """Values as ``str`` with missing (None/NaN) as NaN, so ``map`` sends them to index 0."""
    values = series.to_numpy(dtype=object)  # (n,)
    missing = pd.isna(values)
    out = np.empty(len(values), dtype=object)
    out[missing] = np.nan
    out[~missing] = [str(v) for v in values[~missing]]
    return pd.Series(out, dtype=object)


def numeric_array(series: pd.Series, col: str) -> np.ndarray:
    """Float64 array with NaN for missing; rejects text and infinities with a clear error."""
    values = to_numbers(series)
    bad = np.isnan(values) & series.notna().to_numpy()
    if bad.any():
        example = series[bad].iloc[0]
        raise InvalidInputError(col, f"expected a number, got {example!r}")
    if np.isinf(values).any():
        raise InvalidInputError(col, "infinite values are not allowed")
    return values


def signed_log1p(values: np.ndarray) -> np.ndarray:
    """sign(x) * log(1 + |x|): monotonic, so the median commutes with it."""
    return np.sign(values) * np.log1p(np.abs(values))
