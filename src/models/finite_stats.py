"""Statistics of numeric training columns that stay finite for any finite input.

Plain sums of values near 1e308, or cubes of values past 1e103, overflow to inf or
NaN.  In preprocessing that silently disabled the log transform and erased the
feature, or produced a model that predicts NaN, so the moments are computed on
rescaled values and the fitted state is checked before any model uses it.
"""

from __future__ import annotations

import numpy as np
import pandas as pd


def finite_moments(values: np.ndarray) -> tuple[float, float, float]:
    """Mean, std and skewness that stay finite for any finite input.

    Computed on the values divided by their largest magnitude (skewness is scale-free), so
    no intermediate sum or cube can overflow.
    """
    scale = float(np.max(np.abs(values))) if values.size else 0.0
    if not np.isfinite(scale) or scale == 0.0:
        scale = 1.0
    unit = values / scale
    # pandas-stubs types skew() as any Scalar; on a float Series it is a float.
    skew = float(pd.Series(unit).skew()) if values.size > 2 else 0.0  # type: ignore[arg-type]
    return float(unit.mean() * scale), float(unit.std() * scale), skew if np.isfinite(skew) else 0.0


def first_non_finite(**stats: dict[str, float]) -> tuple[str, str, float] | None:
    """The first (statistic, column, value) that is NaN or infinite, or None when all are finite."""
    for name, by_column in stats.items():
        for col, value in by_column.items():
            if not np.isfinite(value):
                return name, col, value
    return None
