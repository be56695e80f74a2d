"""The shadow report's pure summary, against numbers worked out by hand."""

from __future__ import annotations

import math

import numpy as np
import pytest

from src.models.metrics import classification_metrics
from src.models.shadow_summary import (
    correlations,
    flips,
    latest_labelled,
    score_psi,
    summarise,
)


def test_pearson_and_spearman_of_a_hand_computed_case():
    # deviations (-1, 0, 1) and (-1, 1, 0): covariance 1, variances 2 and 2 -> r = 1/2;
    # the ranks are the values themselves, so Spearman is 1/2 too.
    pearson, spearman = correlations(np.array([0.1, 0.2, 0.3]), np.array([0.1, 0.3, 0.2]))
    assert pearson == pytest.approx(0.5)
    assert spearman == pytest.approx(0.5)


def test_spearman_sees_a_monotone_but_non_linear_agreement():
    champion = np.array([0.1, 0.2, 0.3, 0.4])
    shadow = np.array([0.01, 0.04, 0.09, 0.9])  # same order, very different scale
    pearson, spearman = correlations(champion, shadow)
    assert spearman == pytest.approx(1.0)
    assert pearson is not None and pearson < 0.9


def test_spearman_gives_ties_their_mean_rank():
    # shadow ranks (1.5, 1.5, 3): deviations (-0.5, -0.5, 1) vs (-1, 0, 1):
    # covariance 1.5, variances 1.5 and 2 -> 1.5 / sqrt(3) = 0.8660
    _, spearman = correlations(np.array([1.0, 2.0, 3.0]), np.array([0.2, 0.2, 0.7]))
    assert spearman == pytest.approx(1.5 / math.sqrt(3.0))


def test_correlation_is_undefined_for_constant_scores_or_one_pair():
    assert correlations(np.array([0.2, 0.2]), np.array([0.1, 0.3])) == (None, None)
    assert correlations(np.array([0.2]), np.array([0.1])) == (None, None)


def test_psi_in_the_champions_score_bins_hand_checked():
    # champion half 0.1, half 0.9: one edge (0.9), shares 0.5 / 0.5 (no missing).
    # shadow 80% / 20%: PSI = 0.3 ln(0.8/0.5) + (-0.3) ln(0.2/0.5) = 0.14100 + 0.27489
    champion = np.array([0.1] * 5 + [0.9] * 5)
    shadow = np.array([0.1] * 8 + [0.9] * 2)
    expected = 0.3 * math.log(0.8 / 0.5) - 0.3 * math.log(0.2 / 0.5)
    assert score_psi(champion, shadow) == pytest.approx(expected)
    assert expected == pytest.approx(0.41589, abs=1e-5)


def test_psi_of_identical_distributions_is_zero_and_undefined_without_rows():
    scores = np.linspace(0.01, 0.99, 50)
    assert score_psi(scores, scores[::-1]) == pytest.approx(0.0)
    assert score_psi(np.array([]), np.array([])) is None


def test_flip_shares_split_by_direction():
    # pairs: (0,0) (0,1) (1,0) (1,1) (0,1): 3 of 5 differ; 2 approve->decline, 1 the reverse
    result = flips(np.array([0, 0, 1, 1, 0]), np.array([0, 1, 0, 1, 1]))
    assert result == {
        "flip_share": pytest.approx(0.6),
        "approve_to_decline": pytest.approx(0.4),
        "decline_to_approve": pytest.approx(0.2),
    }
    assert flips(np.array([]), np.array([]))["flip_share"] is None


def test_realised_uses_the_latest_labelled_pair_per_application():
    labels = np.array([1, 0, -1, 1, 0])
    apps = ["a", "b", "c", "a", None]  # "a" twice: its later pair; no id: cannot be joined
    assert latest_labelled(labels, apps).tolist() == [1, 3]


def test_summary_puts_it_together_with_each_models_threshold():
    champion = np.array([0.2, 0.7, 0.4, 0.9])
    shadow = np.array([0.3, 0.6, 0.6, 0.8])
    champion_pred = (champion >= 0.5).astype(int)  # 0 1 0 1
    shadow_pred = (shadow >= 0.55).astype(int)  # 0 1 1 1
    labels = np.array([0, 1, 1, -1])
    summary = summarise(
        champion_proba=champion,
        shadow_proba=shadow,
        champion_pred=champion_pred,
        shadow_pred=shadow_pred,
        labels=labels,
        application_ids=["a", "b", "c", "d"],
        champion_threshold=0.5,
        shadow_threshold=0.55,
    )
    assert summary["n_pairs"] == 4
    assert summary["flip_share"] == pytest.approx(0.25)
    assert summary["approve_to_decline"] == pytest.approx(0.25)
    assert summary["mean_champion_score"] == pytest.approx(0.55)
    assert summary["mean_shadow_score"] == pytest.approx(0.575)
    assert summary["n_labelled"] == 3
    realised = summary["realised"]
    # on a, b, c: the champion gets c wrong (0.4 < 0.5), the shadow gets all three right
    assert realised["champion"]["accuracy"] == pytest.approx(2 / 3)
    assert realised["shadow"]["accuracy"] == pytest.approx(1.0)
    assert realised["shadow"] == classification_metrics(labels[:3], shadow[:3], threshold=0.55)


def test_summary_without_outcomes_has_no_realised_metrics():
    summary = summarise(
        champion_proba=np.array([0.1, 0.5]),
        shadow_proba=np.array([0.2, 0.4]),
        champion_pred=np.array([0, 1]),
        shadow_pred=np.array([0, 0]),
        labels=np.array([-1, -1]),
        application_ids=[None, None],
        champion_threshold=0.5,
        shadow_threshold=0.5,
    )
    assert summary["n_labelled"] == 0 and summary["realised"] is None
    assert summary["pearson"] == pytest.approx(1.0)
