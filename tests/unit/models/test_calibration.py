"""Calibration: inflated scores become PDs whose averages match the default rates."""

from __future__ import annotations

import numpy as np
import pytest
from sklearn.metrics import roc_auc_score

from src.models.calibration import Calibrator, fit_calibrator
from src.models.metrics import expected_calibration_error


def _inflated(n: int, seed: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """True PDs (5 % base rate), outcomes drawn from them, and a class-weighted-like score."""
    rng = np.random.default_rng(seed)
    true_logit = rng.normal(-3.3, 0.9, size=n)
    pd_true = 1 / (1 + np.exp(-true_logit))
    y = (rng.random(n) < pd_true).astype(int)
    score = 1 / (1 + np.exp(-(1.6 * true_logit + 4.0)))  # inflated and over-confident
    return pd_true, y, score


def test_platt_turns_an_inflated_score_into_calibrated_pds() -> None:
    _, y, score = _inflated(4000, seed=0)
    calibrator = fit_calibrator(y[:2000], score[:2000], method="platt")
    assert calibrator.method == "platt"
    _, y_test, score_test = _inflated(4000, seed=1)
    before = expected_calibration_error(y_test, score_test)
    after = expected_calibration_error(y_test, calibrator.apply(score_test))
    assert before > 0.2 and after < 0.02, (before, after)
    # Monotone: the ranking and hence ROC-AUC are exactly unchanged.
    assert roc_auc_score(y_test, calibrator.apply(score_test)) == pytest.approx(
        roc_auc_score(y_test, score_test), abs=1e-12
    )


def test_auto_prefers_platt_for_a_logistic_shape_and_isotonic_for_a_step() -> None:
    _, y, score = _inflated(3000, seed=2)
    assert fit_calibrator(y, score, method="auto").method == "platt"
    # A shape no logistic curve fits: default rate 2 % below 0.5, 60 % at or above.
    rng = np.random.default_rng(3)
    step = rng.random(3000)
    y_step = (rng.random(3000) < np.where(step < 0.5, 0.02, 0.6)).astype(int)
    chosen = fit_calibrator(y_step, step, method="auto")
    assert chosen.method == "isotonic"
    losses = chosen.diagnostics["cv_log_loss"]
    assert losses["isotonic"] < losses["platt"] < losses["identity"]


def test_isotonic_is_monotone_and_stays_inside_zero_one() -> None:
    _, y, score = _inflated(3000, seed=4)
    calibrator = fit_calibrator(y, score, method="isotonic")
    grid = np.linspace(0, 1, 501)
    out = calibrator.apply(grid)
    assert np.all(np.diff(out) >= 0)
    assert out.min() > 0 and out.max() < 1


@pytest.mark.parametrize("method", ["platt", "isotonic"])
def test_round_trip_through_a_dict_gives_identical_pds(method: str) -> None:
    _, y, score = _inflated(2000, seed=5)
    calibrator = fit_calibrator(y, score, method=method)
    again = Calibrator.from_dict(calibrator.to_dict())
    assert np.array_equal(again.apply(score), calibrator.apply(score))


def test_too_few_positives_or_none_give_the_identity() -> None:
    score = np.linspace(0.1, 0.9, 50)
    one_class = fit_calibrator(np.zeros(50, dtype=int), score, method="auto")
    assert one_class.method == "identity" and "skipped" in one_class.diagnostics
    _, y, raw = _inflated(2000, seed=6)
    assert fit_calibrator(y, raw, method="none").method == "identity"
    few = np.zeros(200, dtype=int)
    few[[90, 170, 195]] = (
        1  # 3 positives, mostly high scores: too few for 5-fold CV, enough for two parameters
    )
    small = fit_calibrator(few, np.linspace(0.2, 0.9, 200), method="auto")
    assert small.method == "platt" and small.diagnostics["chosen_without_cv"]
    with pytest.raises(ValueError, match="calibration method"):
        fit_calibrator(y, raw, method="beta")
