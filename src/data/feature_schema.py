"""A source's feature schema: which columns are categorical, numerical, target and row key.

Pure logic, no I/O: inference looks at a pandas frame and honours explicit overrides.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import asdict, dataclass, field
from typing import Any

import numpy as np
import pandas as pd

from src.data.values import NA_LIKE, to_numbers
from src.exceptions import SchemaError

# Columns with these names (case-insensitive) are row identifiers, never features.
ID_COLUMN_NAMES = ("rownames", "id", "loan_id", "row_id", "record_id", "application_id")
# A text column with more distinct values is not a usable category (an id, free text, a
# timestamp): one embedding per row learns nothing and every unseen value is "unknown".
MAX_CATEGORY_LEVELS = 200
# Date layouts recognised so a date column is not taken for a category with a level per day.
_DATE_FORMATS = ("ISO8601", "%m/%d/%Y", "%d/%m/%Y", "%d.%m.%Y", "%b-%Y", "%Y-%m")


@dataclass(frozen=True)
class FeatureSchema:
    """Column roles for one source; stored with the source and inside every model artifact."""

    categorical: tuple[str, ...]
    numerical: tuple[str, ...]
    target: str
    positive_label: str
    id_column: str | None = None
    nullable: tuple[str, ...] = field(default=())

    def __post_init__(self) -> None:
        overlap = set(self.categorical) & set(self.numerical)
        if overlap:
            raise SchemaError(f"columns both categorical and numerical: {sorted(overlap)}")
        for role, cols in (("categorical", self.categorical), ("numerical", self.numerical)):
            if self.target in cols:
                raise SchemaError(f"target column {self.target!r} cannot also be {role}")
            if self.id_column is not None and self.id_column in cols:
                raise SchemaError(f"id column {self.id_column!r} cannot also be {role}")
        if not self.categorical and not self.numerical:
            raise SchemaError("a feature schema needs at least one feature column")
        unknown = set(self.nullable) - set(self.features)
        if unknown:
            raise SchemaError(f"nullable columns that are not features: {sorted(unknown)}")

    @property
    def features(self) -> tuple[str, ...]:
        return self.categorical + self.numerical

    def to_dict(self) -> dict[str, Any]:
        data = asdict(self)
        return {k: list(v) if isinstance(v, tuple) else v for k, v in data.items()}

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> FeatureSchema:
        return cls(
            categorical=tuple(data["categorical"]),
            numerical=tuple(data["numerical"]),
            target=data["target"],
            positive_label=str(data["positive_label"]),
            id_column=data.get("id_column"),
            nullable=tuple(data.get("nullable", ())),
        )


def infer_schema(frame: pd.DataFrame, **options: Any) -> FeatureSchema:
    """Infer column roles; explicit ``categorical``/``numerical`` lists win over inference.

    A column is numerical when most of its non-missing values parse as numbers
    ("1,234" and "12.5%" included), otherwise categorical.  An identifier column
    becomes the row key.  Columns that make no usable feature are left out.  ``options``
    are those of ``infer_schema_with_exclusions``, which also says why each was left out.
    """
    return infer_schema_with_exclusions(frame, **options)[0]


def infer_schema_with_exclusions(
    frame: pd.DataFrame,
    *,
    target: str,
    positive_label: str,
    id_column: str | None = None,
    categorical: Sequence[str] | None = None,
    numerical: Sequence[str] | None = None,
    exclude: Sequence[str] = (),
) -> tuple[FeatureSchema, dict[str, str]]:
    """``infer_schema`` plus the columns it left out, each with the reason (for the user).

    Left out unless forced by ``categorical``/``numerical``: empty columns, dates, and
    text columns with more than ``MAX_CATEGORY_LEVELS`` values (ids, free text).
    """
    if target not in frame.columns:
        raise SchemaError(f"target column {target!r} not in source columns {list(frame.columns)}")
    if id_column is None:
        id_column = next((c for c in frame.columns if str(c).lower() in ID_COLUMN_NAMES), None)
    elif id_column not in frame.columns:
        raise SchemaError(f"id column {id_column!r} not in source columns {list(frame.columns)}")
    forced_cat = list(categorical or [])
    forced_num = list(numerical or [])
    for col in forced_cat + forced_num + list(exclude):
        if col not in frame.columns:
            raise SchemaError(f"column {col!r} not in source columns {list(frame.columns)}")
    skip = {target, id_column, *exclude, *forced_cat, *forced_num}
    cats, nums = list(forced_cat), list(forced_num)
    excluded: dict[str, str] = {}
    for col in frame.columns:
        if col in skip:
            continue
        numeric = _looks_numeric(frame[col])
        reason = None if numeric else _unusable(frame[col])
        if reason:
            excluded[str(col)] = reason
            continue
        (nums if numeric else cats).append(str(col))
    nullable = tuple(c for c in cats + nums if frame[c].isna().any())
    labels = set(frame[target].dropna().astype(str))
    if str(positive_label) not in labels:
        raise SchemaError(
            f"positive label {positive_label!r} not found in target {target!r}; "
            f"values seen: {sorted(labels)[:10]}"
        )
    if not cats and not nums and excluded:
        raise SchemaError(
            f"no usable feature column: {_describe(excluded)}; "
            "pass --categorical/--numerical to use some of them anyway"
        )
    schema = FeatureSchema(
        categorical=tuple(cats),
        numerical=tuple(nums),
        target=target,
        positive_label=str(positive_label),
        id_column=id_column,
        nullable=nullable,
    )
    return schema, excluded


def _describe(excluded: dict[str, str]) -> str:
    return "; ".join(f"{col!r} {why}" for col, why in excluded.items())


def _unusable(series: pd.Series) -> str | None:
    """Why a non-numeric column makes no usable category (None: it does)."""
    values = series.dropna()
    if values.empty:
        return "is empty in every row"
    distinct = pd.unique(values.astype(str).str.strip())
    sample = distinct[:1000]
    example = str(sample[0])[:40]
    for fmt in _DATE_FORMATS:
        parsed = pd.to_datetime(pd.Series(sample), format=fmt, errors="coerce")
        if parsed.notna().mean() >= 0.95:
            return f"holds dates (e.g. {example!r})"
    if len(distinct) > MAX_CATEGORY_LEVELS:
        if len(distinct) == len(values):
            return f"is identifier-like: a different value in every row (e.g. {example!r})"
        return f"has {len(distinct)} distinct values (more than {MAX_CATEGORY_LEVELS})"
    return None


def _looks_numeric(series: pd.Series) -> bool:
    if pd.api.types.is_bool_dtype(series):
        return False
    if pd.api.types.is_numeric_dtype(series):
        return True
    texts = series.dropna().astype(str).str.strip()
    values = texts[~texts.isin(NA_LIKE)]  # "NA" in a number column: quarantined, with a hint
    if values.empty:
        return False
    parsed = to_numbers(values)
    return bool((~np.isnan(parsed)).mean() >= 0.95)
