"""Classification metrics of the positive ("bad" / default) class, as stored in the registry.

F1, precision and recall always refer to class 1; ``zero_division=0`` so a model that
predicts no positives gets 0 instead of a warning.  Ranking metrics are NaN when only one
class is present, because they are undefined there and a silent 0.5 would mislead the
champion/challenger comparison.
"""

from __future__ import annotations

import logging

import numpy as np

logger = logging.getLogger(__name__)

# The one list of metric names: registry columns, CLI tables, API model info, the pipeline.
# scikit-learn is imported inside the functions, so the CLI and the API can read this
# constant without paying ~2 s of sklearn import at start-up.
METRIC_NAMES = (
    "f1_score",
    "accuracy",
    "precision",
    "recall",
    "roc_auc",
    "pr_auc",
    "ks",
    "gini",
    "brier_score",
    "log_loss",
    "ece",
)
# Ranking and calibration metrics: not threshold-dependent (KS, Gini = 2 AUC - 1, Brier, log
# loss, ECE over ECE_BINS equal-mass bins of the predicted probability).
ECE_BINS = 10
_EPS = 1e-15


def classification_metrics(
    y_true: np.ndarray, proba: np.ndarray, *, threshold: float
) -> dict[str, float]:
    """Metrics for predictions ``proba >= threshold`` against 0/1 labels ``y_true``."""
    from sklearn.metrics import (
        accuracy_score,
        average_precision_score,
        f1_score,
        precision_score,
        recall_score,
        roc_auc_score,
        roc_curve,
    )

    y = np.asarray(y_true).astype(int).ravel()  # (n,)
    p = np.asarray(proba, dtype=float).ravel()  # (n,)
    assert y.shape == p.shape, f"y_true {y.shape} and proba {p.shape} differ in length"
    assert len(y) > 0, "cannot compute metrics on zero rows"
    assert set(np.unique(y)) <= {0, 1}, "y_true must be 0/1 labels"
    pred = (p >= threshold).astype(int)
    both = len(np.unique(y)) == 2
    nan = float("nan")
    auc = float(roc_auc_score(y, p)) if both else nan
    ks = nan
    if both:
        fpr, tpr, _ = roc_curve(y, p)
        ks = float(np.max(tpr - fpr))
    clipped = np.clip(p, _EPS, 1.0 - _EPS)
    return {
        "f1_score": float(f1_score(y, pred, zero_division=0)),
        "accuracy": float(accuracy_score(y, pred)),
        "precision": float(precision_score(y, pred, zero_division=0)),
        "recall": float(recall_score(y, pred, zero_division=0)),
        "roc_auc": auc,
        "pr_auc": float(average_precision_score(y, p)) if both else nan,
        "ks": ks,
        "gini": 2.0 * auc - 1.0 if both else nan,
        "brier_score": float(np.mean((p - y) ** 2)),
        "log_loss": float(-np.mean(y * np.log(clipped) + (1 - y) * np.log(1.0 - clipped))),
        "ece": expected_calibration_error(y, p),
    }


def expected_calibration_error(
    y_true: np.ndarray, proba: np.ndarray, *, bins: int = ECE_BINS
) -> float:
    """ECE over ``bins`` equal-mass bins: sum of (bin share) x |mean p - default rate|.

    Equal-mass (not equal-width) bins, because a credit score crowds near the base rate: with
    equal widths nine of ten bins would be nearly empty and the tenth would hide everything.
    """
    y = np.asarray(y_true, dtype=float).ravel()
    p = np.asarray(proba, dtype=float).ravel()
    assert y.shape == p.shape and len(y) > 0, "ECE needs equally long, non-empty inputs"
    order = np.argsort(p, kind="stable")
    total = 0.0
    for chunk in np.array_split(order, min(bins, len(order))):
        total += len(chunk) * abs(float(p[chunk].mean()) - float(y[chunk].mean()))
    return total / len(y)


def best_f1_threshold(y_true: np.ndarray, proba: np.ndarray) -> float:
    """Threshold maximising positive-class F1 for the rule ``proba >= threshold``.

    Chosen on validation data, because the default 0.5 is meaningless for a model trained with
    a class-imbalance weight (its probabilities are shifted up).
    """
    from sklearn.metrics import precision_recall_curve

    y = np.asarray(y_true).astype(int).ravel()
    p = np.asarray(proba, dtype=float).ravel()
    if len(np.unique(y)) < 2:
        logger.warning("best_f1_threshold: only one class present, falling back to 0.5")
        return 0.5
    precision, recall, thresholds = precision_recall_curve(y, p)
    # The last (precision=1, recall=0) point has no threshold.
    precision, recall = precision[:-1], recall[:-1]  # (len(thresholds),)
    denom = precision + recall
    f1 = np.divide(2 * precision * recall, denom, out=np.zeros_like(denom), where=denom > 0)
    return float(thresholds[int(np.argmax(f1))])
