"""Deterministic train/validation/test splits of a source's labelled rows.

The test split is a hash of ``(source, row_key)`` (``is_test_row``), shared by
every model of a source, so no model trains on rows another model is judged
on.  Validation rows (early stopping and threshold choice) are a stratified,
seeded sample of the remaining rows.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np
from sklearn.model_selection import train_test_split

from src.data.frames import LabelledFrame, is_test_row
from src.exceptions import NoDataError

MIN_ROWS_PER_SPLIT = 20


@dataclass(frozen=True)
class Splits:
    train: LabelledFrame
    valid: LabelledFrame
    test: LabelledFrame

    def sizes(self) -> dict[str, int]:
        return {
            "n_train": len(self.train.labels),
            "n_valid": len(self.valid.labels),
            "n_test": len(self.test.labels),
            "n_train_positive": int(self.train.labels.sum()),
            "n_valid_positive": int(self.valid.labels.sum()),
            "n_test_positive": int(self.test.labels.sum()),
        }


def test_mask(frame: LabelledFrame, *, source: str, test_fraction: float) -> np.ndarray:
    return np.array(
        [is_test_row(source, key, test_fraction=test_fraction) for key in frame.row_keys],
        dtype=bool,
    )


def unseen_by_both(
    frame: LabelledFrame, *, source: str, snapshots: tuple[dict[str, Any], dict[str, Any]]
) -> np.ndarray:
    """Rows that neither of two models of one line trained (or tuned) on.

    A row is unseen by a model when it was in that model's test split or arrived after the
    model's snapshot (``raw_id > max_raw_id``).  Two models trained with different
    ``test_fraction`` values therefore get the intersection, never the other's training rows.
    """
    unseen = np.ones(len(frame.labels), dtype=bool)
    for snapshot in snapshots:
        held_out = test_mask(frame, source=source, test_fraction=float(snapshot["test_fraction"]))
        unseen &= held_out | (frame.raw_ids > int(snapshot["max_raw_id"]))
    return unseen


def make_splits(
    frame: LabelledFrame,
    *,
    source: str,
    test_fraction: float,
    validation_fraction: float,
    seed: int,
) -> Splits:
    """Split ``frame``; raises ``NoDataError`` when a split would be too small to be useful."""
    in_test = test_mask(frame, source=source, test_fraction=test_fraction)
    train, valid = _train_valid(
        frame, in_test, source=source, validation_fraction=validation_fraction, seed=seed
    )
    test = frame.subset(in_test)
    _check_split(source, "test", test)
    return Splits(train=train, valid=valid, test=test)


def tuning_splits(
    frame: LabelledFrame,
    *,
    source: str,
    test_fraction: float,
    validation_fraction: float,
    seed: int,
) -> tuple[LabelledFrame, LabelledFrame]:
    """The training and validation splits of :func:`make_splits`, and never the test rows.

    For the hyperparameter search (``src.pipeline.tuning``): it chooses on validation ROC-AUC,
    so the test rows, which judge the model trained with what it chooses, are dropped here,
    before any search code could see them.  Same rows as ``make_splits`` for the same
    arguments, so a tuned model is trained on exactly the rows the search trained on.
    """
    in_test = test_mask(frame, source=source, test_fraction=test_fraction)
    return _train_valid(
        frame, in_test, source=source, validation_fraction=validation_fraction, seed=seed
    )


def _train_valid(
    frame: LabelledFrame,
    in_test: np.ndarray,
    *,
    source: str,
    validation_fraction: float,
    seed: int,
) -> tuple[LabelledFrame, LabelledFrame]:
    rest_idx = np.flatnonzero(~in_test)
    rest_labels = frame.labels[rest_idx]
    stratify = rest_labels if np.bincount(rest_labels, minlength=2).min() >= 2 else None
    if len(rest_idx) < 2 * MIN_ROWS_PER_SPLIT:
        raise NoDataError(
            f"source {source!r} has {len(rest_idx)} non-test rows; need at least "
            f"{2 * MIN_ROWS_PER_SPLIT} to train (collect more data first)"
        )
    train_idx, valid_idx = train_test_split(
        rest_idx, test_size=validation_fraction, random_state=seed, stratify=stratify
    )
    train = frame.subset(_mask(len(frame.labels), np.sort(train_idx)))
    valid = frame.subset(_mask(len(frame.labels), np.sort(valid_idx)))
    _check_split(source, "train", train)
    _check_split(source, "validation", valid)
    return train, valid


def _check_split(source: str, name: str, part: LabelledFrame) -> None:
    positives = int(part.labels.sum())
    if len(part.labels) < MIN_ROWS_PER_SPLIT or positives == 0 or positives == len(part.labels):
        raise NoDataError(
            f"the {name} split of {source!r} has {len(part.labels)} rows with {positives} "
            "positive; both classes are needed in every split (collect more data first)"
        )


def _mask(n: int, idx: np.ndarray) -> np.ndarray:
    mask = np.zeros(n, dtype=bool)
    mask[idx] = True
    return mask
