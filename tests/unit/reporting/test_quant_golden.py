"""Golden tests: the report's KS, Gini, decile table and bootstrap intervals against
hand-worked values on a fixed dataset and against independent implementations (scipy's
two-sample KS, sklearn's AUC and F1, pandas' quantile groups, the Hanley-McNeil error)."""

from __future__ import annotations

import math

import numpy as np
import pandas as pd
import pytest
from scipy.stats import ks_2samp
from sklearn.metrics import f1_score, roc_auc_score

from src.reporting import quant

# 20 rows, scores 0.95, 0.90, ..., 0.00 (no ties); 6 defaults, 14 goods.
P = np.round(np.arange(19, -1, -1) * 0.05, 2)
Y = np.array([1, 1, 1, 0, 1, 0, 0, 1, 0, 0, 1, 0, 0, 0, 0, 0, 0, 0, 0, 0])


def random_scores(n: int, *, seed: int, ties: bool = False) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    y = (rng.random(n) < 0.2).astype(int)
    p = 1 / (1 + np.exp(-(rng.normal(size=n) + 1.2 * y - 1.5)))
    return y, np.round(p, 2) if ties else p


def test_ks_matches_the_hand_computed_value_and_scipy() -> None:
    # Widest gap after 11 rows: all 6 bads vs 5 of 14 goods.
    ks = quant.ks_curve(Y, P)
    assert ks["ks"] == pytest.approx(1 - 5 / 14)
    assert ks["ks"] == pytest.approx(ks_2samp(P[Y == 1], P[Y == 0]).statistic)
    assert ks["ks_population_share"] == pytest.approx(11 / 20)
    assert ks["ks_score"] == pytest.approx(0.45)


@pytest.mark.parametrize("ties", [False, True])
def test_ks_matches_scipy_on_larger_data_with_and_without_ties(ties: bool) -> None:
    y, p = random_scores(3000, seed=1, ties=ties)
    expected = ks_2samp(p[y == 1], p[y == 0]).statistic
    assert quant.ks_curve(y, p)["ks"] == pytest.approx(expected, abs=1e-12)


def test_gini_matches_the_pair_count_and_sklearn() -> None:
    # Goods ranked below each bad: 14 + 14 + 14 + 13 + 11 + 9 = 75 of 6 x 14 pairs.
    roc = quant.roc_points(Y, P)
    assert roc["auc"] == pytest.approx(75 / 84)
    assert roc["gini"] == pytest.approx(2 * 75 / 84 - 1)
    y, p = random_scores(2000, seed=2, ties=True)
    assert quant.rank_auc(y, p) == pytest.approx(roc_auc_score(y, p), abs=1e-12)


def test_decile_table_matches_the_hand_computed_table() -> None:
    rows = quant.decile_table(Y, P)
    assert [r["n"] for r in rows] == [2] * 10
    assert [r["bads"] for r in rows] == [2, 1, 1, 1, 0, 1, 0, 0, 0, 0]
    assert [r["max_score"] for r in rows[:3]] == [0.95, 0.85, 0.75]
    capture = [2 / 6, 3 / 6, 4 / 6, 5 / 6, 5 / 6, 1, 1, 1, 1, 1]
    assert [r["cum_bad_capture"] for r in rows] == pytest.approx(capture)
    lift = [r["bads"] / 2 / (6 / 20) for r in rows]
    assert [r["lift"] for r in rows] == pytest.approx(lift)
    assert rows[0]["lift"] == pytest.approx(10 / 3)


def test_decile_table_matches_pandas_quantile_groups() -> None:
    y, p = random_scores(2000, seed=3)  # no ties; 200 rows a group (qcut spreads a remainder
    # differently from array_split, which gives it to the riskiest groups)
    frame = pd.DataFrame({"y": y, "p": p})
    # Independent: pandas' quantile cut of the descending rank (decile 1 = riskiest).
    frame["decile"] = pd.qcut((-frame["p"]).rank(method="first"), 10, labels=False) + 1
    grouped = frame.groupby("decile")["y"].agg(["count", "sum", "mean"])
    capture = grouped["sum"].cumsum() / y.sum()
    rows = quant.decile_table(y, p)
    assert [r["n"] for r in rows] == grouped["count"].tolist()
    assert [r["bads"] for r in rows] == grouped["sum"].tolist()
    assert [r["bad_rate"] for r in rows] == pytest.approx(grouped["mean"].tolist())
    assert [r["cum_bad_capture"] for r in rows] == pytest.approx(capture.tolist())
    assert [r["lift"] for r in rows] == pytest.approx((grouped["mean"] / y.mean()).tolist())


def test_bootstrap_intervals_match_an_independent_replay_with_sklearn() -> None:
    y, p = random_scores(300, seed=4)
    threshold, resamples, seed = 0.3, 200, 7
    got = quant.bootstrap_intervals(y, p, threshold=threshold, resamples=resamples, seed=seed)
    aucs, f1s = [], []
    for idx in quant.bootstrap_indices(len(y), resamples=resamples, seed=seed):
        f1s.append(f1_score(y[idx], (p[idx] >= threshold).astype(int), zero_division=0))
        if 0 < y[idx].sum() < len(idx):
            aucs.append(roc_auc_score(y[idx], p[idx]))
    assert got["roc_auc"] == pytest.approx(np.percentile(aucs, [2.5, 97.5]), abs=1e-12)
    assert got["f1_score"] == pytest.approx(np.percentile(f1s, [2.5, 97.5]), abs=1e-12)
    assert got["roc_auc_resamples"] == len(aucs)
    assert got["f1_se"] == pytest.approx(np.std(f1s, ddof=1))


def test_bootstrap_auc_interval_agrees_with_the_hanley_mcneil_error() -> None:
    y, p = random_scores(2000, seed=5)
    auc = roc_auc_score(y, p)
    n1, n0 = y.sum(), len(y) - y.sum()
    q1, q2 = auc / (2 - auc), 2 * auc**2 / (1 + auc)
    se = math.sqrt(
        (auc * (1 - auc) + (n1 - 1) * (q1 - auc**2) + (n0 - 1) * (q2 - auc**2)) / (n1 * n0)
    )
    low, high = quant.bootstrap_intervals(y, p, threshold=0.3)["roc_auc"]
    assert low < auc < high
    assert (high - low) == pytest.approx(2 * 1.96 * se, rel=0.2)


def test_one_class_resamples_are_left_out_of_the_auc_interval() -> None:
    y = np.array([1, 0, 0, 0, 0, 0])
    p = np.array([0.9, 0.1, 0.2, 0.3, 0.4, 0.5])
    got = quant.bootstrap_intervals(y, p, threshold=0.5, resamples=50, seed=0)
    assert 0 < got["roc_auc_resamples"] < 50  # some resamples miss the only default


def test_curves_are_thinned_but_keep_their_ends() -> None:
    y, p = random_scores(5000, seed=6)
    roc = quant.roc_points(y, p, max_points=50)
    assert len(roc["fpr"]) <= 50
    assert (roc["fpr"][0], roc["tpr"][0], roc["fpr"][-1], roc["tpr"][-1]) == (0, 0, 1, 1)


def test_confusion_and_no_skill_f1() -> None:
    assert quant.confusion(Y, P, threshold=0.5) == {"tn": 9, "fp": 5, "fn": 1, "tp": 5}
    base = Y.mean()
    assert quant.no_skill_f1(base) == pytest.approx(f1_score(Y, np.ones_like(Y)))


def test_bad_inputs_are_refused() -> None:
    with pytest.raises(ValueError, match="0/1"):
        quant.decile_table(np.array([0, 2]), np.array([0.1, 0.2]))
    with pytest.raises(ValueError, match="both classes"):
        quant.ks_curve(np.zeros(5), np.linspace(0, 1, 5))
