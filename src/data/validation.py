"""Row identity and row checks: what decides whether a source row is stored or quarantined.

``row_keys`` gives each source row the stable identity that makes ingestion
exactly-once; ``check_rows`` validates rows with the same number parsing that
processing uses, so every row that reaches raw_data can be processed.  Both
return quarantine reasons (None = fine) rather than raising, because a bad row
must be kept for inspection, not dropped or allowed to fail a whole batch.
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd

from src.data.feature_schema import FeatureSchema
from src.data.values import NA_LIKE, is_number_dtype, label_texts, received_values, to_numbers

MAX_KEY_LENGTH = 200  # longer ids are stored as their sha256
_NUMERIC_KINDS = frozenset({"native", "integer", "floating", "mixed-integer-float", "empty"})
_STRING_KINDS = frozenset({"string", "empty"})


@dataclass(frozen=True)
class CheckedRows:
    """Validation of a block of source rows: received values, label strings, reasons."""

    values: dict[str, np.ndarray]  # feature column -> received values
    labels: list[str | None]
    reasons: list[str | None]  # None = valid
    typed: np.ndarray  # the row's values already have the schema's types
    pure: frozenset[str]  # columns whose values are all str/None or all numbers/None
    out_of_range: dict[str, int]  # numerical column -> rows beyond the magnitude bound


def join_reasons(parts: Iterable[str | None]) -> str | None:
    """One quarantine reason from several (None when there are none)."""
    return "; ".join(filter(None, parts)) or None


def check_rows(
    frame: pd.DataFrame,
    schema: FeatureSchema,
    *,
    labels: Sequence[str] | None,
    max_abs: float = float("inf"),
    require_label: bool = True,
) -> CheckedRows:
    """Validate rows: a known target label; numbers numeric, finite and within ``max_abs``.

    ``labels`` are the two target values seen when the schema was inferred (None: any).
    ``max_abs`` bounds magnitudes: a finite 1e308 still overflows training statistics.
    ``require_label=False`` checks the features only: unlabelled applications
    (``collect --unlabelled``) must be as clean as labelled rows, but have no label to check.
    """
    reasons: dict[int, list[str]] = {}

    def flag(
        mask: np.ndarray, values: Sequence[Any] | np.ndarray, message: Callable[..., str]
    ) -> None:
        # ``message`` builds the reason from the shown value.  Never str.format: column names
        # and values are user text, and "{rate}" in one must not be read as a placeholder.
        for i in np.flatnonzero(mask):
            reasons.setdefault(int(i), []).append(message(_shown(values[int(i)])))

    target, known = schema.target, set(labels or ())
    expected = sorted(known)
    label_text = label_texts(frame[target])
    flag_label = flag if require_label else lambda *_: None
    flag_label(
        np.array([t is None for t in label_text], dtype=bool),
        label_text,
        lambda _: f"missing target value in column {target!r}",
    )
    flag_label(
        np.array([t is not None and bool(known) and t not in known for t in label_text]),
        label_text,
        lambda v: f"unknown target value {v} in column {target!r} (expected one of {expected})",
    )
    flag_label(
        np.array([t is not None and "\x00" in t for t in label_text], dtype=bool),
        label_text,
        lambda _: f"NUL character in target column {target!r}",
    )
    values: dict[str, np.ndarray] = {}
    typed, pure = np.ones(len(frame), dtype=bool), set()
    out_of_range: dict[str, int] = {}
    for col in schema.features:
        series = frame[col]
        vals = values[col] = received_values(series)
        native = is_number_dtype(series.dtype)
        kind = "native" if native else pd.api.types.infer_dtype(vals, skipna=True)
        if kind in _NUMERIC_KINDS | _STRING_KINDS:
            pure.add(col)
        if col in schema.numerical:
            numbers = (
                series.to_numpy(dtype="float64", na_value=np.nan) if native else to_numbers(vals)
            )
            flag(
                np.isnan(numbers) & ~pd.isna(vals),
                vals,
                lambda v, col=col: (
                    f"non-numeric value {v} in numerical column {col!r}" + _na_hint(v)
                ),
            )
            flag(
                np.isinf(numbers),
                vals,
                lambda v, col=col: f"non-finite value {v} in numerical column {col!r}",
            )
            with np.errstate(invalid="ignore"):
                huge = np.isfinite(numbers) & (np.abs(numbers) > max_abs)
            if huge.any():
                out_of_range[col] = int(huge.sum())
                flag(
                    huge,
                    vals,
                    lambda v, col=col: (
                        f"value {v} in numerical column {col!r} exceeds the magnitude bound "
                        f"{max_abs:g} (MAX_ABS_NUMERIC_VALUE)"
                    ),
                )
            if kind not in _NUMERIC_KINDS:
                typed &= np.array([v is None or type(v) in (int, float) for v in vals], dtype=bool)
        elif kind not in _STRING_KINDS:
            typed &= np.array([v is None or isinstance(v, str) for v in vals], dtype=bool)
        if not native and any(isinstance(u, str) and "\x00" in u for u in pd.unique(vals)):
            nul = np.array([isinstance(v, str) and "\x00" in v for v in vals], dtype=bool)
            flag(nul, vals, lambda _, col=col: f"NUL character in column {col!r}")
    return CheckedRows(
        values=values,
        labels=label_text,
        typed=typed,
        pure=frozenset(pure),
        out_of_range=out_of_range,
        reasons=[join_reasons(reasons.get(i, ())) for i in range(len(frame))],
    )


def _na_hint(shown: str) -> str:
    """For a value pandas would have read as missing: how to ask for that."""
    text = shown[1:-1].strip() if shown[:1] in "'\"" else ""
    return f" (pass --na-values {text} to read it as missing)" if text in NA_LIKE else ""


def _shown(value: Any) -> str:
    """A value as quoted in a reason: its repr, cut to 80 characters."""
    shown = repr(value)
    return shown if len(shown) <= 80 else shown[:77] + "..."


def with_key_problems(
    reasons: list[str | None], rows: Sequence[int] | np.ndarray, key_problems: dict[int, str]
) -> list[str | None]:
    """Check reasons of a block of rows, each preceded by its row's key problem, if any.

    ``rows`` are the block's positions in the source, which ``key_problems`` is keyed by.
    """
    if not key_problems:
        return reasons
    return [join_reasons((key_problems.get(int(i)), r)) for i, r in zip(rows, reasons, strict=True)]


def row_keys(frame: pd.DataFrame, schema: FeatureSchema) -> tuple[list[str], dict[int, str]]:
    """Stable keys for all rows, plus quarantine reasons for rows whose id is unusable.

    With an id column the key is the id as text; a repeated id gets ``<id>#<n>`` and
    a missing id a content key, and both are quarantined.  Without one the key is
    ``<sha256 of the row's values>:<n>``, n counting exact duplicates in source order.
    """
    if schema.id_column is None:
        return _content_keys(frame, schema), {}
    col, problems = schema.id_column, {}
    keys: list[Any] = [None if v is None else str(v) for v in received_values(frame[col])]
    missing = [i for i, key in enumerate(keys) if key is None]
    if missing:
        for i, key in zip(missing, _content_keys(frame.iloc[missing], schema), strict=True):
            keys[i], problems[i] = f"noid:{key}", f"missing value in id column {col!r}"
    for i, key in enumerate(keys):
        if "\x00" in key:  # PostgreSQL text cannot hold NUL: the row is kept, keyed without it
            keys[i] = key = key.replace("\x00", "\ufffd")
            problems[i] = f"NUL character in id column {col!r}"
        if len(key) > MAX_KEY_LENGTH:
            keys[i] = "sha256:" + hashlib.sha256(key.encode()).hexdigest()
    series = pd.Series(keys, dtype=object)
    if series.duplicated().any():
        occurrence = series.groupby(keys).cumcount().to_numpy()
        for j in (int(i) for i in np.flatnonzero(occurrence > 0)):
            problems[j] = (
                f"duplicate id {keys[j]!r} in column {col!r} (occurrence {occurrence[j] + 1})"
            )
            keys[j] = f"{keys[j]}#{occurrence[j]}"
    return keys, problems


@dataclass(frozen=True)
class ChangedLabels:
    """Source rows whose key is stored with another label: their positions, keys and reasons."""

    rows: list[int]
    keys: list[str]  # quarantine keys: one per distinct (row key, new label)
    reasons: list[str]


def changed_labels(
    labels: Sequence[str | None], keys: Sequence[str], stored: dict[str, str], target: str
) -> ChangedLabels:
    """Rows already stored under their key whose label in the source now differs.

    Ingestion is idempotent by row key, so a relabelled row would otherwise be
    skipped without a word.  The stored label is kept (training data must not change
    under a model silently); the new version is quarantined once per distinct label.
    """
    rows, qkeys, texts = [], [], []
    for i, (key, label) in enumerate(zip(keys, labels, strict=True)):
        old = stored.get(key)
        if old is None or old == label:
            continue
        digest = hashlib.sha256(str(label).encode()).hexdigest()[:12]
        rows.append(i)
        qkeys.append(f"{key}#label-changed:{digest}")
        texts.append(
            f"label changed for stored row key {key!r} in column {target!r}: "
            f"stored {old!r}, now {label!r} (stored label kept)"
        )
    return ChangedLabels(rows=rows, keys=qkeys, reasons=texts)


def _content_keys(frame: pd.DataFrame, schema: FeatureSchema) -> list[str]:
    # Values as text, so int 5, float 5.0 and "5" hash alike whatever dtype pandas picked.
    texts = [
        ["\x00" if v is None else str(v) for v in received_values(frame[col])]
        for col in sorted({*schema.features, schema.target})
    ]
    digests = [
        hashlib.sha256("\x1f".join(p).encode()).hexdigest() for p in zip(*texts, strict=True)
    ]
    occurrence = pd.Series(digests, dtype=object).groupby(digests).cumcount()
    return [f"{d}:{n}" for d, n in zip(digests, occurrence, strict=True)]
