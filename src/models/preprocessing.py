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

* ``numeric_encoding="ple"`` replaces each scaled value by the piecewise-linear encoding of
  the imputed raw value over quantile bins fitted here (``src.models.numeric_embedding``);
  the model then makes each feature a token.  Log and scaling do not matter to quantile bins.

Output layout of ``x_num`` (n, n_numerical_out): per numerical feature in schema order its
value columns (one scaled value, or its PLE bins), followed by the missing indicators in schema
order.  ``numerical_groups`` says which ``x_num`` columns belong to one original feature (its
value columns + its indicator).  State without ``numeric_encoding`` (format 1, every artifact
written before PLE existed) is plain; PLE state is format 2, which older code refuses loudly
instead of misreading it.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd
import torch

from src.data.feature_schema import FeatureSchema
from src.exceptions import InvalidInputError
from src.models.column_values import (
    categorical_strings,
    check_columns,
    numeric_array,
    signed_log1p,
)
from src.models.finite_stats import finite_moments, first_non_finite
from src.models.numeric_embedding import (
    NUMERIC_ENCODINGS,
    check_edges,
    fit_quantile_edges,
    ple_encode,
)

FORMAT_VERSION = 1  # plain numerics: what every artifact before PLE holds
PLE_FORMAT_VERSION = 2


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
    numeric_encoding: str = "plain"  # "plain" or "ple"
    bin_edges: dict[str, list[float]] = field(default_factory=dict)  # per column, PLE only
    _index: dict[str, dict[str, int]] = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        assert self.numeric_encoding in NUMERIC_ENCODINGS, (
            f"numeric_encoding must be one of {NUMERIC_ENCODINGS}, got {self.numeric_encoding!r}"
        )
        if self.numeric_encoding == "ple":
            missing = [c for c in self.schema.numerical if c not in self.bin_edges]
            assert not missing, f"PLE state lacks bin edges for {missing}"
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
        numeric_encoding: str = "plain",
        n_bins: int = 16,
    ) -> Preprocessor:
        """Learn vocabularies, numeric statistics and (PLE) bin edges from the training frame
        only."""
        assert len(frame) > 0, "cannot fit a preprocessor on an empty frame"
        check_columns(frame, schema.features)
        categories: dict[str, list[str]] = {}
        modes: dict[str, str | None] = {}
        for col in schema.categorical:
            values = categorical_strings(frame[col])
            counts = values.dropna().value_counts()
            categories[col] = sorted(counts.index.tolist())
            # Mode with a deterministic tie-break (alphabetical among the most frequent).
            top: Any = counts[counts == counts.max()].index if len(counts) else []
            modes[col] = min(top) if len(top) else None
        medians, means, stds = {}, {}, {}
        log_columns, indicator_columns = [], []
        bin_edges: dict[str, list[float]] = {}
        for col in schema.numerical:
            raw = numeric_array(frame[col], col)  # (n,)
            if numeric_encoding == "ple":
                bin_edges[col] = fit_quantile_edges(raw, n_bins)
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
            numeric_encoding=numeric_encoding,
            bin_edges=bin_edges,
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
        for col, edges in self.bin_edges.items():
            problem = check_edges(edges)
            if problem is not None:
                raise InvalidInputError(col, f"training {problem}")

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
    def value_widths(self) -> list[int]:
        """Value columns per numerical feature: 1 (plain) or its number of PLE bins."""
        if self.numeric_encoding == "ple":
            return [len(self.bin_edges[col]) - 1 for col in self.schema.numerical]
        return [1] * len(self.schema.numerical)

    @property
    def n_numerical_out(self) -> int:
        return sum(self.value_widths) + len(self.indicator_columns)

    @property
    def numerical_groups(self) -> list[list[int]]:
        """``x_num`` column indices per original numerical feature: its value columns, then
        its missing flag if it has one."""
        n_values = sum(self.value_widths)
        flag_pos = {col: n_values + k for k, col in enumerate(self.indicator_columns)}
        groups, start = [], 0
        for col, width in zip(self.schema.numerical, self.value_widths, strict=True):
            group = list(range(start, start + width))
            if col in flag_pos:
                group.append(flag_pos[col])
            groups.append(group)
            start += width
        return groups

    # ------------------------------------------------------------------ transform
    def transform(self, frame: pd.DataFrame) -> tuple[torch.Tensor, torch.Tensor]:
        """Return ``x_cat`` (n, n_cat) int64 and ``x_num`` (n, n_numerical_out) float32."""
        check_columns(frame, self.schema.features)
        n = len(frame)
        x_cat = np.zeros((n, len(self.schema.categorical)), dtype=np.int64)
        for j, col in enumerate(self.schema.categorical):
            codes = categorical_strings(frame[col]).map(self._index[col])
            x_cat[:, j] = codes.fillna(0).to_numpy(dtype=np.int64)
        raws = [numeric_array(frame[col], col) for col in self.schema.numerical]
        return torch.from_numpy(x_cat), torch.from_numpy(self.numerical_block(raws, n))

    def numerical_block(self, raws: list[np.ndarray], n: int) -> np.ndarray:
        """``x_num`` (n, n_numerical_out) float32 from each numerical column's raw float64
        values (NaN = missing), in schema order: impute, then log, standardise and clip (plain)
        or piecewise-linear encode (PLE), then flags.

        Shared by ``transform`` and the pandas-free serving path, so both compute the same
        float64 operations in the same order.
        """
        x_num = np.zeros((n, self.n_numerical_out), dtype=np.float32)
        widths = self.value_widths
        n_values = sum(widths)
        log_set = set(self.log_columns)
        start = 0
        for col, raw, width in zip(self.schema.numerical, raws, widths, strict=True):
            missing = np.isnan(raw)
            filled = np.where(missing, self.medians[col], raw)
            if self.numeric_encoding == "ple":
                x_num[:, start : start + width] = ple_encode(filled, self.bin_edges[col])
            else:
                if col in log_set:
                    filled = signed_log1p(filled)
                with np.errstate(over="ignore", invalid="ignore"):  # huge inputs: clipped below
                    scaled = (filled - self.means[col]) / self.stds[col]
                x_num[:, start] = np.clip(scaled, -self.clip, self.clip)
            start += width
            if col in self.indicator_columns:
                x_num[:, n_values + self.indicator_columns.index(col)] = missing
        return x_num

    def unseen_categories(self, frame: pd.DataFrame) -> list[list[str]]:
        """Per row, the categorical columns whose non-missing value was not seen in training."""
        check_columns(frame, self.schema.categorical)
        unseen = np.zeros((len(frame), len(self.schema.categorical)), dtype=bool)
        for j, col in enumerate(self.schema.categorical):
            values = categorical_strings(frame[col])
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
        """Plain JSON types only, so the state can live in safetensors metadata.

        Plain state is written exactly as before PLE existed (format 1, same keys), so its
        artifacts keep their bytes and older readers; PLE state adds its two keys (format 2).
        """
        data: dict[str, Any] = {
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
        if self.numeric_encoding != "plain":
            data["format_version"] = PLE_FORMAT_VERSION
            data["numeric_encoding"] = self.numeric_encoding
            data["bin_edges"] = {k: list(v) for k, v in self.bin_edges.items()}
        return data

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> Preprocessor:
        version = data.get("format_version")
        assert version in (FORMAT_VERSION, PLE_FORMAT_VERSION), (
            f"unsupported preprocessor format {version!r}"
        )
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
            numeric_encoding=str(data.get("numeric_encoding", "plain")),
            bin_edges={k: [float(e) for e in vs] for k, vs in data.get("bin_edges", {}).items()},
        )
