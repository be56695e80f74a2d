"""Performance while labels mature: confidence-based performance estimation (CBPE).

A calibrated PD ``p`` says the applicant defaults with probability ``p``.  For a decision
``ŷ = [p ≥ threshold]`` each row therefore contributes ``p`` to the expected true positives
(if ŷ = 1) or false negatives (if ŷ = 0), and ``1 - p`` to false positives or true
negatives.  Summed, these give the expected confusion matrix, hence expected F1, precision,
recall and accuracy, months before the outcomes are known (NannyML's CBPE, here on plain
numpy).  The expected ROC curve follows the same way: at each cut-off the expected TPR is
``Σ p·[s ≥ t] / Σ p`` and the expected FPR ``Σ (1-p)·[s ≥ t] / Σ (1-p)``.

It is only as good as the calibration, and it assumes the relation between features and
outcome has not changed (no concept drift): that is exactly why the realised metric, once
the outcomes mature, is stored beside the estimate and the gap reported.
"""

from __future__ import annotations

import numpy as np

ESTIMATED_METRICS = ("f1_score", "precision", "recall", "accuracy", "roc_auc")


def estimated_confusion(proba: np.ndarray, *, threshold: float) -> dict[str, float]:
    """Expected ``tp``, ``fp``, ``fn``, ``tn`` (floats) of the rule ``p >= threshold``."""
    p = _probabilities(proba)
    positive = p >= threshold
    return {
        "tp": float(p[positive].sum()),
        "fp": float((1.0 - p[positive]).sum()),
        "fn": float(p[~positive].sum()),
        "tn": float((1.0 - p[~positive]).sum()),
    }


def estimate_metrics(proba: np.ndarray, *, threshold: float) -> dict[str, float]:
    """Expected F1, precision, recall, accuracy and ROC-AUC of calibrated ``proba`` (n,).

    A metric whose denominator is expected to be zero (no predicted positives) is NaN, the
    way ``classification_metrics`` gives NaN where a metric is undefined.
    """
    p = _probabilities(proba)
    c = estimated_confusion(p, threshold=threshold)
    nan = float("nan")
    precision = c["tp"] / (c["tp"] + c["fp"]) if c["tp"] + c["fp"] > 0 else nan
    recall = c["tp"] / (c["tp"] + c["fn"]) if c["tp"] + c["fn"] > 0 else nan
    f1_denominator = 2 * c["tp"] + c["fp"] + c["fn"]
    return {
        "f1_score": 2 * c["tp"] / f1_denominator if f1_denominator > 0 else nan,
        "precision": precision,
        "recall": recall,
        "accuracy": (c["tp"] + c["tn"]) / len(p),
        "roc_auc": estimated_roc_auc(p),
    }


def estimated_roc_auc(proba: np.ndarray) -> float:
    """Area under the expected ROC curve; rows with equal scores form one step (ties count ½)."""
    p = _probabilities(proba)
    positives, negatives = p.sum(), (1.0 - p).sum()
    if positives <= 0 or negatives <= 0:
        return float("nan")
    scores, inverse = np.unique(-p, return_inverse=True)  # descending score groups
    tp = np.bincount(inverse, weights=p, minlength=len(scores))  # (groups,)
    fp = np.bincount(inverse, weights=1.0 - p, minlength=len(scores))
    tpr = np.concatenate([[0.0], np.cumsum(tp) / positives])
    fpr = np.concatenate([[0.0], np.cumsum(fp) / negatives])
    return float(np.trapezoid(tpr, fpr))


def bootstrap_f1_se(
    labels: np.ndarray, predictions: np.ndarray, *, resamples: int = 500, seed: int = 0
) -> float:
    """Standard error of the realised F1 by the bootstrap (rows resampled with replacement).

    The ±3 SE band around a realised F1 is what an estimate is judged against: with a few
    dozen defaults in a window, F1 moves by several points from sampling alone.
    """
    y = np.asarray(labels).astype(int).ravel()
    yhat = np.asarray(predictions).astype(int).ravel()
    assert y.shape == yhat.shape, f"labels {y.shape} and predictions {yhat.shape} differ"
    if len(y) < 2:
        return float("nan")
    rng = np.random.default_rng(seed)
    index = rng.integers(0, len(y), size=(resamples, len(y)))  # (resamples, n)
    ys, ps = y[index], yhat[index]
    tp = (ys & ps).sum(axis=1)
    denominator = ys.sum(axis=1) + ps.sum(axis=1)  # 2TP + FP + FN
    f1 = np.divide(2.0 * tp, denominator, out=np.zeros(resamples), where=denominator > 0)
    return float(f1.std(ddof=1))


def _probabilities(proba: np.ndarray) -> np.ndarray:
    p = np.asarray(proba, dtype=float).ravel()  # (n,)
    assert len(p) > 0, "CBPE needs at least one prediction"
    assert np.all((p >= 0.0) & (p <= 1.0)), "CBPE needs probabilities in [0, 1]"
    return p
