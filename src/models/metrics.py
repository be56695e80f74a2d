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
METRIC_NAMES = ("f1_score", "accuracy", "precision", "recall", "roc_auc", "pr_auc")


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
    )

    y = np.asarray(y_true).astype(int).ravel()  # (n,)
    p = np.asarray(proba, dtype=float).ravel()  # (n,)
    assert y.shape == p.shape, f"y_true {y.shape} and proba {p.shape} differ in length"
    assert len(y) > 0, "cannot compute metrics on zero rows"
    assert set(np.unique(y)) <= {0, 1}, "y_true must be 0/1 labels"
    pred = (p >= threshold).astype(int)
    both = len(np.unique(y)) == 2
    return {
        "f1_score": float(f1_score(y, pred, zero_division=0)),
        "accuracy": float(accuracy_score(y, pred)),
        "precision": float(precision_score(y, pred, zero_division=0)),
        "recall": float(recall_score(y, pred, zero_division=0)),
        "roc_auc": float(roc_auc_score(y, p)) if both else float("nan"),
        "pr_auc": float(average_precision_score(y, p)) if both else float("nan"),
    }


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
