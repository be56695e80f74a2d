"""PSI/CSI, its no-change null, the bands, reference profiles and Python bin counting."""

from __future__ import annotations

import math

import numpy as np
import pandas as pd
import pytest

from src.data.drift_counts import count_numbers, count_values, counts_from_groups
from src.data.feature_schema import FeatureSchema
from src.models.drift import (
    SHARE_FLOOR,
    bin_labels,
    build_profile,
    decile_edges,
    drift_status,
    numerical_entry,
    occupied_bins,
    psi,
    psi_null_p99,
    reference_shares,
)


def test_psi_of_identical_shares_is_zero_and_known_values_match():
    assert psi(np.array([0.5, 0.5]), np.array([50, 50])) == pytest.approx(0.0)
    expected = (0.4 - 0.5) * math.log(0.4 / 0.5) + (0.6 - 0.5) * math.log(0.6 / 0.5)
    assert psi(np.array([0.5, 0.5]), np.array([40, 60])) == pytest.approx(expected)


def test_psi_floors_empty_bins_so_it_stays_finite():
    # A bin empty on both sides adds nothing; one empty on one side adds a large finite amount.
    assert psi(np.array([0.5, 0.5, 0.0]), np.array([5, 5, 0])) == pytest.approx(0.0)
    value = psi(np.array([0.5, 0.5, 0.0]), np.array([4, 4, 2]))
    shares = np.array([0.4, 0.4, 0.2])
    ref = np.array([0.5, 0.5, SHARE_FLOOR])
    assert value == pytest.approx(float(np.sum((shares - ref) * np.log(shares / ref))))
    assert math.isfinite(value) and value > 0.25
    with pytest.raises(ValueError, match="bins"):
        psi(np.array([0.5, 0.5]), np.array([1, 2, 3]))


def test_null_p99_matches_the_chi_square_quantile():
    # chi2.ppf(0.99, 9) = 21.666 (tables); times 1/1000 + 1/500.
    assert psi_null_p99(bins=10, n_reference=1000, n_current=500) == pytest.approx(
        21.666 * 0.003, rel=1e-4
    )
    assert psi_null_p99(bins=2, n_reference=100, n_current=100) == pytest.approx(6.635 * 0.02, 1e-3)


@pytest.mark.parametrize(
    ("probs", "n", "m"),
    [
        (np.full(10, 0.1), 2000, 1000),  # deciles of a continuous feature
        (np.array([0.7, 0.15, 0.1, 0.04, 0.01]), 5000, 800),  # a skewed, discrete feature
    ],
)
def test_about_one_percent_of_no_change_samples_exceed_the_null_p99(probs, n, m):
    """Both samples from one distribution: the p99 must be exceeded ~1% of the time.

    4000 simulated pairs: under a correct p99 the exceedances are Binomial(4000, 0.01), mean
    40, sd 6.3; [20, 64] is beyond 3 sd either way (fixed seed, so not flaky) yet fails for a
    threshold that is really a p97 (120 expected) or a p99.9 (4 expected).
    """
    rng = np.random.default_rng(7)
    reps = 4000
    reference = rng.multinomial(n, probs, size=reps) / n
    current = rng.multinomial(m, probs, size=reps)
    threshold = psi_null_p99(bins=len(probs), n_reference=n, n_current=m)
    values = np.array([psi(r, c) for r, c in zip(reference, current, strict=True)])
    exceed = int((values > threshold).sum())
    assert 20 <= exceed <= 64, exceed


def test_bands_are_given_only_above_the_null():
    kw = {"investigate": 0.1, "act": 0.25}
    assert drift_status(0.05, null_p99=0.01, **kw) == "stable"
    assert drift_status(0.15, null_p99=0.01, **kw) == "investigate"
    assert drift_status(0.30, null_p99=0.01, **kw) == "act"
    assert drift_status(0.30, null_p99=0.40, **kw) == "stable"  # small samples: noise


def test_discrete_feature_edges_separate_zero_from_the_rest():
    values = np.array([0.0] * 90 + [1.0] * 6 + [2.0] * 4)
    assert decile_edges(values).tolist() == [1.0]
    entry = numerical_entry(values)
    assert entry["shares"] == [0.9, 0.1]
    assert bin_labels(entry) == ["< 1", ">= 1", "(missing)"]


def test_continuous_edges_give_ten_bins_of_a_tenth():
    values = np.random.default_rng(0).normal(size=10_000)
    entry = numerical_entry(np.append(values, [np.nan] * 100))
    assert len(entry["edges"]) == 9
    assert np.allclose(entry["shares"], 10_000 / 10_100 / 10, atol=1e-3)
    assert entry["missing"] == pytest.approx(100 / 10_100)
    assert reference_shares(entry).sum() == pytest.approx(1.0)
    assert occupied_bins(reference_shares(entry)) == 11


def test_profile_has_categories_unseen_missing_and_the_score():
    schema = FeatureSchema(
        categorical=("term",), numerical=("int_rate",), target="Class", positive_label="bad"
    )
    features = pd.DataFrame(
        {"term": ["36", "60", "36", None], "int_rate": [5.0, 10.0, float("nan"), 20.0]}
    )
    profile = build_profile(features, schema, np.array([0.1, 0.2, 0.3]))
    term = profile["features"]["term"]
    assert term["categories"] == ["36", "60"] and term["shares"] == [0.5, 0.25]
    assert reference_shares(term).tolist() == [0.5, 0.25, 0.0, 0.25]
    assert bin_labels(term) == ["36", "60", "(unseen)", "(missing)"]
    assert profile["features"]["int_rate"]["missing"] == 0.25
    assert profile["score"]["n_rows"] == 3 and profile["n_rows"] == 4


def test_python_counts_treat_non_numbers_as_missing_and_new_categories_as_unseen():
    entry = {"kind": "numerical", "edges": [1.0, 2.0], "shares": [0.3, 0.3, 0.4], "missing": 0.0}
    values = [0, 1, 1.5, 2, 5, float("nan"), "3", None, True, {"a": 1}, 10**400, float("-inf")]
    assert count_values(entry, values).tolist() == [2, 2, 3, 5]
    assert count_numbers(entry, np.array([0.5, np.nan, 2.0])).tolist() == [1, 0, 1, 1]
    cat = {"kind": "categorical", "categories": ["a", "b"], "shares": [0.5, 0.5]}
    assert count_values(cat, ["a", "b", "b", "z", None, 3]).tolist() == [1, 2, 2, 1]
    assert counts_from_groups(cat, {"a": 4, "q": 2, None: 1}).tolist() == [4, 0, 2, 1]
    assert counts_from_groups(entry, {0: 1, 2: 5, None: 3}).tolist() == [1, 0, 5, 3]
