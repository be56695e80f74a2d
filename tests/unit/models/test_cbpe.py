"""CBPE: expected metrics from calibrated probabilities, against outcomes drawn from them."""

from __future__ import annotations

import math

import numpy as np
import pytest
from sklearn.metrics import f1_score, roc_auc_score

from src.models.cbpe import (
    bootstrap_f1_se,
    estimate_metrics,
    estimated_confusion,
    estimated_roc_auc,
)


def test_hand_computed_confusion() -> None:
    p = np.array([0.9, 0.6, 0.2, 0.1])
    c = estimated_confusion(p, threshold=0.5)
    assert c == pytest.approx({"tp": 1.5, "fp": 0.5, "fn": 0.3, "tn": 1.7})
    m = estimate_metrics(p, threshold=0.5)
    assert m["precision"] == pytest.approx(1.5 / 2.0)
    assert m["recall"] == pytest.approx(1.5 / 1.8)
    assert m["f1_score"] == pytest.approx(3.0 / (3.0 + 0.5 + 0.3))
    assert m["accuracy"] == pytest.approx(3.2 / 4)


def test_expected_auc_of_certain_scores_is_the_realised_auc() -> None:
    # Probabilities 0 or 1 leave nothing to chance: the expectation is the realised value.
    p = np.array([1.0, 1.0, 0.0, 0.0, 0.0])
    assert estimated_roc_auc(p) == pytest.approx(1.0)
    assert math.isnan(estimated_roc_auc(np.zeros(4)))  # no expected positives


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_estimates_match_outcomes_drawn_from_the_probabilities(seed: int) -> None:
    """If outcomes really follow p, CBPE lands within a few standard errors of reality."""
    rng = np.random.default_rng(seed)
    p = rng.beta(1.0, 12.0, size=20_000)  # a 7% default rate, skewed like a credit score
    y = (rng.random(len(p)) < p).astype(int)
    m = estimate_metrics(p, threshold=0.15)
    realised_f1 = f1_score(y, p >= 0.15)
    se = bootstrap_f1_se(y, p >= 0.15, resamples=200)
    assert abs(m["f1_score"] - realised_f1) < 3 * se
    assert m["roc_auc"] == pytest.approx(roc_auc_score(y, p), abs=0.02)


def test_an_uncalibrated_score_gives_a_wrong_estimate() -> None:
    """CBPE trusts the probabilities: inflated scores (class-weighted training) mislead it.

    That is why the model is calibrated before its probabilities are logged.
    """
    rng = np.random.default_rng(3)
    p = rng.beta(1.0, 12.0, size=20_000)
    y = (rng.random(len(p)) < p).astype(int)
    inflated = np.clip(p * 3, 0, 1)
    realised = f1_score(y, inflated >= 0.45)
    se = bootstrap_f1_se(y, inflated >= 0.45, resamples=200)
    assert estimate_metrics(inflated, threshold=0.45)["f1_score"] - realised > 3 * se


def test_bootstrap_se_shrinks_with_sample_size() -> None:
    rng = np.random.default_rng(4)
    p = rng.beta(1.0, 12.0, size=40_000)
    y = (rng.random(len(p)) < p).astype(int)
    small = bootstrap_f1_se(y[:1_000], p[:1_000] >= 0.15)
    large = bootstrap_f1_se(y, p >= 0.15)
    assert large < small / 3  # ~sqrt(40) = 6.3x more rows


def test_refuses_what_is_not_a_probability() -> None:
    with pytest.raises(AssertionError, match="probabilities"):
        estimate_metrics(np.array([0.2, 1.3]), threshold=0.5)
    with pytest.raises(AssertionError, match="at least one"):
        estimate_metrics(np.array([]), threshold=0.5)
