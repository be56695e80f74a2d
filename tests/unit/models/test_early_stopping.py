"""The smoothed early-stopping rule (pure: scores in, epochs and snapshots out)."""

from __future__ import annotations

import pytest

from src.models.early_stopping import SmoothedEarlyStopping, trailing_mean, window_centre


def run(scores: list[float], *, window: int, patience: int = 100) -> SmoothedEarlyStopping[int]:
    """Feed ``scores`` epoch by epoch (snapshot = the epoch number) until the rule stops."""
    stopper: SmoothedEarlyStopping[int] = SmoothedEarlyStopping(window=window, patience=patience)
    for epoch, score in enumerate(scores, 1):
        stopper.update(score, lambda e=epoch: e)
        if stopper.should_stop():
            break
    return stopper


def test_trailing_mean_uses_the_scores_seen_while_fewer_than_the_window() -> None:
    assert trailing_mean([0.5], 3) == 0.5
    assert trailing_mean([0.5, 0.7], 3) == pytest.approx(0.6)
    assert trailing_mean([0.1, 0.5, 0.7, 0.9], 3) == pytest.approx(0.7)
    with pytest.raises(ValueError, match="window"):
        trailing_mean([0.1], 0)
    with pytest.raises(ValueError, match="no scores"):
        trailing_mean([], 2)


@pytest.mark.parametrize(
    ("epoch", "window", "centre"),
    [(1, 1, 1), (7, 1, 7), (1, 3, 1), (2, 3, 2), (3, 3, 2), (9, 3, 8), (9, 5, 7), (9, 4, 8)],
)
def test_window_centre(epoch: int, window: int, centre: int) -> None:
    assert window_centre(epoch, window) == centre


def test_window_one_is_the_old_rule_best_single_epoch_and_patience() -> None:
    scores = [0.60, 0.70, 0.65, 0.72, 0.71, 0.70, 0.69]
    stopper = run(scores, window=1, patience=3)
    assert (stopper.best_epoch, stopper.best_score, stopper.best_state) == (4, 0.72, 4)
    assert stopper.epoch == 7  # three epochs without a better score after epoch 4


def test_a_lone_spike_does_not_win_a_smoothed_comparison() -> None:
    """Epoch 3's 0.80 is one lucky draw; epochs 6-8 form the better plateau."""
    scores = [0.60, 0.62, 0.80, 0.62, 0.70, 0.74, 0.75, 0.74, 0.70, 0.66, 0.65, 0.64]
    assert run(scores, window=1).best_epoch == 3
    smoothed = run(scores, window=3)
    assert smoothed.best_end == 8  # mean(0.74, 0.75, 0.74) = 0.7433 beats mean(0.62, 0.80, 0.62)
    assert smoothed.best_epoch == 7 and smoothed.best_state == 7  # the window's middle epoch
    assert smoothed.best_score == pytest.approx((0.74 + 0.75 + 0.74) / 3)


def test_the_restored_snapshot_is_the_centre_even_when_it_is_not_the_raw_best() -> None:
    scores = [0.50, 0.70, 0.68, 0.71, 0.40, 0.40, 0.40, 0.40]
    stopper = run(scores, window=3)
    assert stopper.best_end == 4 and stopper.best_epoch == 3 and stopper.best_state == 3


def test_patience_counts_from_the_end_of_the_best_window() -> None:
    scores = [0.5, 0.6, 0.7, 0.6, 0.5, 0.4, 0.3, 0.2, 0.1]
    stopper = run(scores, window=3, patience=2)
    # Best window ends at epoch 4 (mean 0.633 vs 0.6 at epoch 3); stops two epochs later.
    assert stopper.best_end == 4 and stopper.best_epoch == 3 and stopper.epoch == 6


def test_early_best_restores_an_early_epoch_from_a_short_window() -> None:
    stopper = run([0.9, 0.5, 0.5, 0.5, 0.5], window=3, patience=3)
    assert (stopper.best_epoch, stopper.best_state, stopper.epoch) == (1, 1, 4)


def test_equal_or_nan_scores_keep_the_earlier_epoch() -> None:
    assert run([0.7, 0.7, 0.7], window=1).best_epoch == 1
    stopper = run([float("nan"), float("nan")], window=2)
    assert stopper.best_epoch == 0 and stopper.best_state is None


def test_snapshots_are_taken_lazily_with_window_one() -> None:
    taken: list[int] = []
    stopper: SmoothedEarlyStopping[int] = SmoothedEarlyStopping(window=1, patience=5)
    for epoch, score in enumerate([0.5, 0.6, 0.55, 0.58], 1):
        stopper.update(score, lambda e=epoch: taken.append(e) or e)
    assert taken == [1, 2]  # only improvements are copied, as before smoothing existed


@pytest.mark.parametrize(("window", "patience"), [(0, 3), (2, 0)])
def test_invalid_window_or_patience_raises(window: int, patience: int) -> None:
    with pytest.raises(ValueError):
        SmoothedEarlyStopping(window=window, patience=patience)
