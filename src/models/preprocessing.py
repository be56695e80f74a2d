"""Feature frame -> (x_cat, x_num) tensors, with all fitted state JSON-serialisable.

Why these choices:

* Categorical vocabularies reserve index 0 for "unknown or missing", so a category never seen
  in training (a new US state, a typo in a user CSV) still gets a valid embedding instead of
  an error; :meth:`Preprocessor.unseen_categories` reports it so the API can warn.
* Numerics are median-imputed, optionally passed through a signed ``log1p`` (columns whose
  training skewness exceeds ``skew_threshold``: incomes, balances, counts with long tails) and
  then standardised.  The log keeps a few huge incomes from dominating the scale and clearly
  helps the transformer's numeric path; it is monotonic, so the median commutes with it.
* Missing-indicator columns are added only for numeric features that had at least one missing
  value in the training data: a feature that was never missing in training gives the model
  nothing to learn about missingness, and an always-zero column would only add width.
* Standardised values are clipped to ``±clip`` so a single absurd input cannot produce an
  extreme logit at serving time.

Output layout of ``x_num`` (n, n_numerical_out): the ``len(schema.numerical)`` scaled values
in schema order, followed by the missing indicators in schema order.  ``numerical_groups``
says which ``x_num`` columns belong to one original feature (value + its indicator).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd
import torch

from src.data.feature_schema import FeatureSchema
from src.data.values import to_numbers
from src.exceptions import InvalidInputError
from src.models.finite_stats import finite_moments, first_non_finite

FORMAT_VERSION = 1


@dataclass
class Preprocessor:
    """Fitted preprocessing state; build it with :meth:`fit` or :meth:`from_dict`."""

    schema: FeatureSchema
    categories: dict[str, list[str]]  # per categorical column, vocabulary without index 0
    modes: dict[str, str | None]  # training mode per categorical column
    medians: dict[str, float]  # raw-scale median per numerical column
    log_columns: list[str]  # numerical columns that get a signed log1p
    means: dict[str, float]  # mean after imputation (+log)
    stds: dict[str, float]  # std after imputation (+log), never 0
    indicator_columns: list[str]  # numerical columns with a missing-indicator output
    clip: float = 10.0
    _index: dict[str, dict[str, int]] = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        # Lookup tables are derived state: index 0 is reserved for unknown / missing.
        self._index = {
            col: {value: i + 1 for i, value in enumerate(vocab)}
            for col, vocab in self.categories.items()
        }

    # ------------------------------------------------------------------ fitting
    @classmethod
    def fit(
        cls,
        frame: pd.DataFrame,
        schema: FeatureSchema,
        *,
        skew_threshold: float = 2.0,
        clip: float = 10.0,
    ) -> Preprocessor:
        """Learn vocabularies and numeric statistics from the training frame only."""
        assert len(frame) > 0, "cannot fit a preprocessor on an empty frame"
        _check_columns(frame, schema.features)
        categories: dict[str, list[str]] = {}
        modes: dict[str, str | None] = {}
        for col in schema.categorical:
            values = _categorical_strings(frame[col])
            counts = values.dropna().value_counts()
            categories[col] = sorted(counts.index.tolist())
            # Mode with a deterministic tie-break (alphabetical among the most frequent).
            top: Any = counts[counts == counts.max()].index if len(counts) else []
            modes[col] = min(top) if len(top) else None
        medians, means, stds = {}, {}, {}
        log_columns, indicator_columns = [], []
        for col in schema.numerical:
            raw = _numeric_array(frame[col], col)  # (n,)
            observed = raw[~np.isnan(raw)]
            median = float(np.median(observed)) if observed.size else 0.0
            medians[col] = median
            if np.isnan(raw).any():
                indicator_columns.append(col)
            filled = np.where(np.isnan(raw), median, raw)
            mean, std, skew = finite_moments(filled)
            if observed.size > 2 and abs(skew) > skew_threshold:
                log_columns.append(col)
                filled = signed_log1p(filled)
                mean, std, _ = finite_moments(filled)
            means[col] = mean
            stds[col] = std if std > 1e-12 else 1.0  # constant column -> all zeros, no NaN
        fitted = cls(
            schema=schema,
            categories=categories,
            modes=modes,
            medians=medians,
            log_columns=log_columns,
            means=means,
            stds=stds,
            indicator_columns=indicator_columns,
            clip=clip,
        )
        fitted.check_finite()
        return fitted

    def check_finite(self) -> None:
        """Refuse non-finite fitted statistics: a model trained on them predicts NaN.

        Called at the end of ``fit``, i.e. before any model built on this state can be
        trained or registered.
        """
        found = first_non_finite(median=self.medians, mean=self.means, std=self.stds)
        if found is not None:
            name, col, value = found
            raise InvalidInputError(
                col,
                f"training {name} is {value} (values too large to be real; lower "
                "MAX_ABS_NUMERIC_VALUE and re-collect, or drop the column)",
            )

    # ------------------------------------------------------------------ layout
    @property
    def cardinalities(self) -> list[int]:
        """Embedding table size per categorical column, including the reserved index 0."""
        return [len(self.categories[col]) + 1 for col in self.schema.categorical]

    @property
    def vocabulary_index(self) -> dict[str, dict[str, int]]:
        """Per categorical column, category -> embedding index (0: unknown or missing)."""
        return self._index

    @property
    def n_numerical_out(self) -> int:
        return len(self.schema.numerical) + len(self.indicator_columns)

    @property
    def numerical_groups(self) -> list[list[int]]:
        """``x_num`` column indices per original numerical feature: [value] or [value, flag]."""
        n_num = len(self.schema.numerical)
        flag_pos = {col: n_num + k for k, col in enumerate(self.indicator_columns)}
        return [
            [i, flag_pos[col]] if col in flag_pos else [i]
            for i, col in enumerate(self.schema.numerical)
        ]

    # ------------------------------------------------------------------ transform
    def transform(self, frame: pd.DataFrame) -> tuple[torch.Tensor, torch.Tensor]:
        """Return ``x_cat`` (n, n_cat) int64 and ``x_num`` (n, n_numerical_out) float32."""
        _check_columns(frame, self.schema.features)
        n = len(frame)
        x_cat = np.zeros((n, len(self.schema.categorical)), dtype=np.int64)
        for j, col in enumerate(self.schema.categorical):
            codes = _categorical_strings(frame[col]).map(self._index[col])
            x_cat[:, j] = codes.fillna(0).to_numpy(dtype=np.int64)
        raws = [_numeric_array(frame[col], col) for col in self.schema.numerical]
        return torch.from_numpy(x_cat), torch.from_numpy(self.numerical_block(raws, n))

    def numerical_block(self, raws: list[np.ndarray], n: int) -> np.ndarray:
        """``x_num`` (n, n_numerical_out) float32 from each numerical column's raw float64
        values (NaN = missing), in schema order: impute, log, standardise, clip, flags.

        Shared by ``transform`` and the pandas-free serving path, so both compute the same
        float64 operations in the same order.
        """
        x_num = np.zeros((n, self.n_numerical_out), dtype=np.float32)
        n_num = len(self.schema.numerical)
        log_set = set(self.log_columns)
        for j, (col, raw) in enumerate(zip(self.schema.numerical, raws, strict=True)):
            missing = np.isnan(raw)
            filled = np.where(missing, self.medians[col], raw)
            if col in log_set:
                filled = signed_log1p(filled)
            with np.errstate(over="ignore", invalid="ignore"):  # huge inputs: clipped below
                scaled = (filled - self.means[col]) / self.stds[col]
            x_num[:, j] = np.clip(scaled, -self.clip, self.clip)
            if col in self.indicator_columns:
                x_num[:, n_num + self.indicator_columns.index(col)] = missing
        return x_num

    def unseen_categories(self, frame: pd.DataFrame) -> list[list[str]]:
        """Per row, the categorical columns whose non-missing value was not seen in training."""
        _check_columns(frame, self.schema.categorical)
        unseen = np.zeros((len(frame), len(self.schema.categorical)), dtype=bool)
        for j, col in enumerate(self.schema.categorical):
            values = _categorical_strings(frame[col])
            unseen[:, j] = (values.notna() & values.map(self._index[col]).isna()).to_numpy()
        names = self.schema.categorical
        return [[names[j] for j in np.flatnonzero(row)] for row in unseen]

    def reference_values(self) -> dict[str, object]:
        """Training mode (categorical) or median (numerical) per feature, for occlusion."""
        refs: dict[str, object] = {col: self.modes[col] for col in self.schema.categorical}
        refs.update({col: self.medians[col] for col in self.schema.numerical})
        return refs

    # ------------------------------------------------------------------ persistence
    def to_dict(self) -> dict[str, Any]:
        """Plain JSON types only, so the state can live in safetensors metadata."""
        return {
            "format_version": FORMAT_VERSION,
            "schema": self.schema.to_dict(),
            "categories": {k: list(v) for k, v in self.categories.items()},
            "modes": dict(self.modes),
            "medians": dict(self.medians),
            "log_columns": list(self.log_columns),
            "means": dict(self.means),
            "stds": dict(self.stds),
            "indicator_columns": list(self.indicator_columns),
            "clip": self.clip,
        }

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> Preprocessor:
        version = data.get("format_version")
        assert version == FORMAT_VERSION, f"unsupported preprocessor format {version!r}"
        return cls(
            schema=FeatureSchema.from_dict(data["schema"]),
            categories={k: [str(v) for v in vs] for k, vs in data["categories"].items()},
            modes=dict(data["modes"]),
            medians={k: float(v) for k, v in data["medians"].items()},
            log_columns=list(data["log_columns"]),
            means={k: float(v) for k, v in data["means"].items()},
            stds={k: float(v) for k, v in data["stds"].items()},
            indicator_columns=list(data["indicator_columns"]),
            clip=float(data["clip"]),
        )


def _check_columns(frame: pd.DataFrame, columns: tuple[str, ...]) -> None:
    for col in columns:
        if col not in frame.columns:
            raise InvalidInputError(col, "required feature column is missing")


def _categorical_strings(series: pd.Series) -> pd.Series:
    """Values as ``str`` with missing (None/NaN) as NaN, so ``map`` sends them to index 0."""
    values = series.to_numpy(dtype=object)  # (n,)
    missing = pd.isna(values)
    out = np.empty(len(values), dtype=object)
    out[missing] = np.nan
    out[~missing] = [str(v) for v in values[~missing]]
    return pd.Series(out, dtype=object)


def _numeric_array(series: pd.Series, col: str) -> np.ndarray:
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
