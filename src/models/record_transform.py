"""Validated request records -> model tensors without pandas: the serving hot path.

``Preprocessor.transform`` works on a DataFrame, which is right for training and batches but
costs more than the forward pass itself for one row (a frame is built, typed and taken apart
again).  This module does the same arithmetic straight from the records that
``request_to_record`` validated (categories as ``str`` or None, numbers as finite floats or
None), in the same order of float64 operations, so the tensors are identical, bit for bit,
to ``transform(records_to_frame(records))`` (``tests/unit/models/test_record_transform.py``
checks that on thousands of rows with unseen categories and missing values).

Records holding anything else (a number as text, a bool) are not for this path:
:func:`plain_records` says so and the caller uses the DataFrame path, which parses them.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np
import torch

from src.models.preprocessing import Preprocessor


def plain_records(records: Sequence[Mapping[str, Any]], pre: Preprocessor) -> bool:
    """Whether every value is what ``request_to_record`` produces (str / float / None)."""
    schema = pre.schema
    for record in records:
        for col in schema.categorical:
            if not isinstance(record.get(col), str | None):
                return False
        for col in schema.numerical:
            value = record.get(col)
            if value is None:
                continue
            if isinstance(value, bool) or not isinstance(value, float) or not math.isfinite(value):
                return False  # the frame path parses text and refuses infinities by name
    return True


def transform_records(
    pre: Preprocessor, records: Sequence[Mapping[str, Any]]
) -> tuple[torch.Tensor, torch.Tensor, list[list[str]]]:
    """``x_cat`` (n, n_cat) int64, ``x_num`` (n, n_numerical_out) float32, unseen categories.

    Absent keys are missing values, as in ``records_to_frame``.
    """
    schema = pre.schema
    n = len(records)
    x_cat = np.zeros((n, len(schema.categorical)), dtype=np.int64)
    unseen: list[list[str]] = [[] for _ in range(n)]
    for j, col in enumerate(schema.categorical):
        index = pre.vocabulary_index[col]
        for i, record in enumerate(records):
            value = record.get(col)
            if value is None:
                continue  # missing: index 0
            code = index.get(value, 0)
            x_cat[i, j] = code
            if code == 0:
                unseen[i].append(col)
    raws = [
        np.array([_number(record.get(col)) for record in records], dtype=np.float64)
        for col in schema.numerical
    ]
    x_num = pre.numerical_block(raws, n)
    return torch.from_numpy(x_cat), torch.from_numpy(x_num), unseen


def _number(value: float | None) -> float:
    return np.nan if value is None else value
