"""The feature frame models consume: typing records per the schema, and loading processed rows.

``records_to_frame`` is the one conversion from JSON-like records to the feature
frame, shared by training (``load_frame``), processing (``build_processed``) and
serving (API/CLI requests), so all of them see identical values.  The held-out
test split (``is_test_row``) is a property of a row's identity, not of a frame.
"""

from __future__ import annotations

import hashlib
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd
from sqlalchemy import Engine, Text, cast, select

from src.data.database import get_engine
from src.data.feature_schema import FeatureSchema
from src.data.source_registry import get_source_schema
from src.data.tables import ProcessedData, RawData
from src.data.values import (
    all_strings,
    is_number_dtype,
    load_json_texts,
    missing_as_none,
    plain_value,
    to_numbers,
)
from src.exceptions import InvalidInputError


@dataclass(frozen=True)
class LabelledFrame:
    """Features, 0/1 labels and provenance of processed rows, all ordered by raw id."""

    features: pd.DataFrame
    labels: np.ndarray  # int64, 1 = positive class
    raw_ids: np.ndarray  # int64
    row_keys: list[str]
    data_dates: np.ndarray  # datetime.date objects
    schema: FeatureSchema

    def __len__(self) -> int:
        return len(self.labels)

    def subset(self, mask: np.ndarray | Sequence[bool]) -> LabelledFrame:
        """The rows where ``mask`` is true, order kept."""
        keep = np.asarray(mask, dtype=bool)
        if keep.shape != self.labels.shape:
            raise ValueError(f"mask has shape {keep.shape}, expected {self.labels.shape}")
        idx = np.flatnonzero(keep)
        return LabelledFrame(
            features=self.features.iloc[idx].reset_index(drop=True),
            labels=self.labels[idx],
            raw_ids=self.raw_ids[idx],
            row_keys=[self.row_keys[i] for i in idx],
            data_dates=self.data_dates[idx],
            schema=self.schema,
        )


def is_test_row(source: str, row_key: str, *, test_fraction: float) -> bool:
    """Whether a row belongs to the source's held-out test split.

    A pure hash of ``(source, row_key)``: every model of a source, whenever it is
    trained, sees the same test rows, which keeps champion/challenger comparisons fair.
    """
    digest = hashlib.sha256(f"{source}:{row_key}".encode()).digest()
    return int.from_bytes(digest[:8], "big") / 2.0**64 < test_fraction


def records_to_frame(records: Sequence[Mapping[str, Any]], schema: FeatureSchema) -> pd.DataFrame:
    """JSON-like records -> feature frame (columns ``schema.features``; str/None, float/NaN).

    Absent keys are missing values; keys that are not features are ignored.
    """
    columns = list(schema.features)
    frame = pd.DataFrame.from_records(list(records), columns=columns) if records else None
    if frame is None:
        frame = pd.DataFrame({c: pd.Series([], dtype=object) for c in columns})
    return coerce_features(frame, schema)


def coerce_features(frame: pd.DataFrame, schema: FeatureSchema) -> pd.DataFrame:
    """Type a frame's feature columns per the schema; raises on a non-numeric number."""
    out: dict[str, pd.Series] = {}
    for col in schema.categorical:
        out[col] = pd.Series(_category_values(frame[col]), dtype=object)
    for col in schema.numerical:
        series = frame[col]
        if is_number_dtype(series.dtype):
            numbers = series.astype("float64").to_numpy()
        else:
            numbers = to_numbers(series)
            bad = np.isnan(numbers) & series.notna().to_numpy()
            if bad.any():
                value = series[bad].iloc[0]
                raise InvalidInputError(col, f"expected a number, got {value!r}")
        out[col] = pd.Series(numbers, dtype="float64")
    return pd.DataFrame(out, columns=list(schema.features)).reset_index(drop=True)


def _category_values(series: pd.Series) -> np.ndarray:
    out = missing_as_none(series)
    if all_strings(out):
        return out
    # 1 and 1.0 are the same category ("1"), as the ingest normalisation stores them.
    return np.array([None if (v := plain_value(x)) is None else str(v) for x in out], dtype=object)


def feature_dicts(features: pd.DataFrame) -> list[dict[str, Any]]:
    """Typed feature frame -> JSON-safe dicts (NaN -> None), as processed_data stores them."""
    columns = [missing_as_none(features[col]) for col in features.columns]
    names = list(features.columns)
    return [dict(zip(names, row, strict=True)) for row in zip(*columns, strict=True)]


def load_frame(
    *,
    source: str,
    min_raw_id_exclusive: int | None = None,
    max_raw_id: int | None = None,
    engine: Engine | None = None,
) -> LabelledFrame:
    """Processed rows of ``source`` with ``min < raw_id <= max``, ordered by raw id."""
    engine = engine or get_engine()
    schema = get_source_schema(source=source, engine=engine)
    stmt = (
        select(
            ProcessedData.raw_id,
            RawData.row_key,
            ProcessedData.data_date,
            cast(ProcessedData.features, Text),
            ProcessedData.label,
        )
        .join(RawData, RawData.id == ProcessedData.raw_id)
        .where(ProcessedData.source == source)
        .order_by(ProcessedData.raw_id)
    )
    if min_raw_id_exclusive is not None:
        stmt = stmt.where(ProcessedData.raw_id > min_raw_id_exclusive)
    if max_raw_id is not None:
        stmt = stmt.where(ProcessedData.raw_id <= max_raw_id)
    with engine.connect() as conn:
        rows = conn.execute(stmt).all()
    records = load_json_texts(r[3] for r in rows)
    dates = np.empty(len(rows), dtype=object)
    dates[:] = [r[2] for r in rows]
    return LabelledFrame(
        features=records_to_frame(records, schema),
        labels=np.fromiter((r[4] for r in rows), dtype=np.int64, count=len(rows)),
        raw_ids=np.fromiter((r[0] for r in rows), dtype=np.int64, count=len(rows)),
        row_keys=[r[1] for r in rows],
        data_dates=dates,
        schema=schema,
    )
