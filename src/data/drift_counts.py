"""Counting a population in a reference profile's bins, in Python.

The same bins as the SQL path (``src.data.drift_queries``), bin for bin: it is what SQLite
uses, what scores of collected rows go through, and what the tests compare the SQL against.
Values are taken as JSON stores them: in a numerical feature anything but a finite-or-infinite
number (a string, a boolean, NaN, an object) counts as missing, as ``jsonb_typeof`` does; in a
categorical feature a non-string is compared in its JSON spelling (``->>`` in SQL), so it is a
known category only if the profile spells it the same way, and otherwise ``unseen``.
"""

from __future__ import annotations

import json
import math
from collections.abc import Iterable, Mapping
from typing import Any

import numpy as np

GroupKey = int | str | None  # a bin index (numerical) or a category (categorical); None: missing


def empty_counts(entry: Mapping[str, Any]) -> np.ndarray:
    """Zero counts shaped like the entry's reference vector (``drift.reference_shares``)."""
    value_bins = len(entry["shares"])
    extra = 2 if entry["kind"] == "categorical" else 1
    return np.zeros(value_bins + extra, dtype=np.int64)


def count_values(entry: Mapping[str, Any], values: Iterable[Any]) -> np.ndarray:
    """Counts of ``values`` (as JSON stores them) in the entry's bins."""
    counts = empty_counts(entry)
    if entry["kind"] == "categorical":
        index = {c: i for i, c in enumerate(entry["categories"])}
        unseen, missing = len(index), len(index) + 1
        for value in values:
            if value is None:
                counts[missing] += 1
            else:
                counts[index.get(_category_text(value), unseen)] += 1
        return counts
    numbers = np.fromiter((_as_number(v) for v in values), dtype=np.float64)
    return counts + count_numbers(entry, numbers)


def count_numbers(entry: Mapping[str, Any], numbers: np.ndarray) -> np.ndarray:
    """Counts of floats (NaN = missing) in a numerical entry's bins, missing last."""
    counts = empty_counts(entry)
    present = ~np.isnan(numbers)
    edges = np.asarray(entry["edges"], dtype=np.float64)
    bins = np.searchsorted(edges, numbers[present], side="right")
    counts[: len(edges) + 1] += np.bincount(bins, minlength=len(edges) + 1)
    counts[-1] += int((~present).sum())
    return counts


def counts_from_groups(entry: Mapping[str, Any], groups: Mapping[GroupKey, int]) -> np.ndarray:
    """The entry's count vector from ``{bin index or category or None: rows}`` (SQL groups)."""
    counts = empty_counts(entry)
    if entry["kind"] == "categorical":
        index = {c: i for i, c in enumerate(entry["categories"])}
        for key, rows in groups.items():
            slot = len(counts) - 1 if key is None else index.get(str(key), len(index))
            counts[slot] += rows
        return counts
    for key, rows in groups.items():
        counts[len(counts) - 1 if key is None else int(key)] += rows
    return counts


def _as_number(value: Any) -> float:
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        return math.nan
    try:
        return float(value)  # NaN stays NaN (missing); +-inf lands in the outer bins, as in SQL
    except OverflowError:  # an integer beyond float range: the outer bin, as numeric gives
        return math.inf if value > 0 else -math.inf


def _category_text(value: Any) -> str:
    if isinstance(value, str):
        return value
    return json.dumps(value, separators=(",", ":"))
