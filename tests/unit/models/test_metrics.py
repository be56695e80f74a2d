from __future__ import annotations

import math

import numpy as np
import pytest
from sklearn.metrics import average_precision_score, f1_score, roc_auc_score

from src.models.metrics import (
    METRIC_NAMES,
    best_f1_threshold,
    classification_metrics,
    expected_calibration_error,
)


def test_hand_computed_example() -> None:
    y = np.array([1, 0, 1, 0, 0, 1])
    p = np.array([0.9, 0.8, 0.6, 0.3, 0.2, 0.1])
    m = classification_metrics(y, p, threshold=0.5)
    expected_keys = {"f1_score", "accuracy", "precision", "recall", "roc_auc", "pr_auc"}
    expected_keys |= {"ks", "gini", "brier_score", "log_loss", "ece"}
    assert set(m) == set(METRIC_NAMES) == expected_keys
    # Predicted positive: rows 0, 1, 2 -> TP = 2 (rows 0, 2), FP = 1 (row 1), FN = 1 (row 5).
    assert m["precision"] == pytest.approx(2 / 3)
    assert m["recall"] == pytest.approx(2 / 3)
    assert m["f1_score"] == pytest.approx(2 / 3)
    assert m["accuracy"] == pytest.approx(4 / 6)
    # Pairs (pos, neg) ranked correctly: 0.9 > all 3; 0.6 > 0.3, 0.2; 0.1 > none -> 5 / 9.
    assert m["roc_auc"] == pytest.approx(5 / 9)
    # AP = sum over positives of precision at their rank / 3: (1/1 + 2/3 + 3/6) / 3.
    assert m["pr_auc"] == pytest.approx((1 + 2 / 3 + 0.5) / 3)
    assert m["gini"] == pytest.approx(2 * 5 / 9 - 1)
    # KS = max(TPR - FPR): at t=0.6, TPR = 2/3, FPR = 1/3 -> 1/3 (t=0.9: 1/3 - 0 = 1/3 too).
    assert m["ks"] == pytest.approx(1 / 3)
    squares = [(0.9 - 1) ** 2, 0.8**2, (0.6 - 1) ** 2, 0.3**2, 0.2**2, (0.1 - 1) ** 2]
    assert m["brier_score"] == pytest.approx(sum(squares) / 6)
    losses = [-math.log(v) for v in (0.9, 0.2, 0.6, 0.7, 0.8, 0.1)]
    assert m["log_loss"] == pytest.approx(sum(losses) / 6)
    # Six rows -> six bins of one row each: ECE = mean |p - y|.
    assert m["ece"] == pytest.approx(sum(abs(a - b) for a, b in zip(p, y, strict=True)) / 6)


def test_ece_of_perfectly_calibrated_bins_is_zero_and_of_a_shift_is_the_shift() -> None:
    # 10 bins of 100 rows; in bin k every p is k/10 + 0.05 and exactly that share defaults.
    p = np.repeat(np.arange(10) / 10 + 0.05, 100)
    y = np.concatenate([(np.arange(100) < round(100 * q)).astype(int) for q in p[::100]])
    assert expected_calibration_error(y, p) == pytest.approx(0.0, abs=1e-12)
    assert expected_calibration_error(y, np.clip(p + 0.03, 0, 1)) == pytest.approx(0.03)


def test_matches_sklearn_on_random_data() -> None:
    rng = np.random.default_rng(0)
    y = rng.integers(0, 2, size=500)
    p = np.clip(0.3 * y + rng.random(500) * 0.7, 0, 1)
    m = classification_metrics(y, p, threshold=0.4)
    assert m["f1_score"] == pytest.approx(f1_score(y, p >= 0.4))
    assert m["roc_auc"] == pytest.approx(roc_auc_score(y, p))
    assert m["pr_auc"] == pytest.approx(average_precision_score(y, p))


def test_threshold_is_inclusive_and_positive_class_is_one() -> None:
    m = classification_metrics(np.array([1, 0]), np.array([0.5, 0.4]), threshold=0.5)
    assert m["recall"] == 1.0 and m["precision"] == 1.0
    # A model that predicts only the majority class gets F1 0, not an error.
    m = classification_metrics(np.array([1, 0, 0]), np.array([0.1, 0.1, 0.1]), threshold=0.5)
    assert m["f1_score"] == 0.0 and m["precision"] == 0.0
    assert m["accuracy"] == pytest.approx(2 / 3)


def test_single_class_gives_nan_ranking_metrics() -> None:
    m = classification_metrics(np.zeros(4), np.array([0.1, 0.2, 0.7, 0.9]), threshold=0.5)
    assert math.isnan(m["roc_auc"]) and math.isnan(m["pr_auc"])
    assert math.isnan(m["ks"]) and math.isnan(m["gini"])
    assert m["accuracy"] == 0.5


def test_best_f1_threshold_hand_example() -> None:
    y = np.array([0, 0, 1, 1, 0, 1])
    p = np.array([0.1, 0.2, 0.3, 0.6, 0.7, 0.8])
    # Candidates (predict >= t): t=0.8 F1=1/2, t=0.7 F1=2/5, t=0.6 F1=2/3, t=0.3 F1=6/7 ...
    # t=0.3: TP=3, FP=1 -> P=3/4, R=1 -> F1=6/7 (the best); t=0.2: P=3/5, R=1 -> 0.75.
    t = best_f1_threshold(y, p)
    assert t == pytest.approx(0.3)
    best = classification_metrics(y, p, threshold=t)["f1_score"]
    assert best == pytest.approx(6 / 7)
    for other in np.linspace(0, 1, 101):
        assert classification_metrics(y, p, threshold=other)["f1_score"] <= best + 1e-12


def test_best_f1_threshold_single_class_falls_back() -> None:
    assert best_f1_threshold(np.zeros(3), np.array([0.1, 0.5, 0.9])) == 0.5
