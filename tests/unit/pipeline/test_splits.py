"""The deploy gate's evaluation rows: held out from the candidate AND the champion."""

import datetime as dt

import numpy as np

from src.data.feature_schema import FeatureSchema
from src.data.frames import LabelledFrame, records_to_frame
from src.pipeline import splits
from src.pipeline.splits import unseen_by_both

SCHEMA = FeatureSchema(categorical=(), numerical=("amount",), target="y", positive_label="1")
N = 2000


def _frame() -> LabelledFrame:
    return LabelledFrame(
        features=records_to_frame([{"amount": i} for i in range(N)], SCHEMA),
        labels=np.arange(N) % 2,
        raw_ids=np.arange(1, N + 1, dtype=np.int64),
        row_keys=[f"k{i}" for i in range(N)],
        data_dates=np.array([dt.date(2026, 1, 1)] * N, dtype=object),
        schema=SCHEMA,
    )


def test_same_split_settings_give_the_shared_test_split():
    frame = _frame()
    snap = {"test_fraction": 0.2, "max_raw_id": N}
    unseen = unseen_by_both(frame, source="cards", snapshots=(snap, snap))
    assert np.array_equal(unseen, splits.test_mask(frame, source="cards", test_fraction=0.2))


def test_different_test_fractions_never_include_either_models_training_rows():
    frame = _frame()
    small, large = {"test_fraction": 0.2, "max_raw_id": N}, {"test_fraction": 0.5, "max_raw_id": N}
    unseen = unseen_by_both(frame, source="cards", snapshots=(large, small))
    in_small = splits.test_mask(frame, source="cards", test_fraction=0.2)
    in_large = splits.test_mask(frame, source="cards", test_fraction=0.5)
    assert unseen.sum() > 0
    assert not (unseen & ~in_small).any() and not (unseen & ~in_large).any()


def test_rows_newer_than_the_champion_count_as_unseen_by_it():
    frame = _frame()
    candidate = {"test_fraction": 0.2, "max_raw_id": N}
    champion = {"test_fraction": 0.2, "max_raw_id": N // 2}  # never saw the second half
    unseen = unseen_by_both(frame, source="cards", snapshots=(candidate, champion))
    assert np.array_equal(unseen, splits.test_mask(frame, source="cards", test_fraction=0.2))
    stricter = {"test_fraction": 0.05, "max_raw_id": N // 2}
    unseen = unseen_by_both(frame, source="cards", snapshots=(candidate, stricter))
    second_half = frame.raw_ids > N // 2
    candidate_test = splits.test_mask(frame, source="cards", test_fraction=0.2)
    assert np.array_equal(unseen[second_half], candidate_test[second_half])
    assert unseen[~second_half].sum() < candidate_test[~second_half].sum()
