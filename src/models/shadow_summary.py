"""How a shadow (challenger) agreed with the champion on the same live records.  Pure numpy.

* **correlation** of the two scores (Pearson on the probabilities, Spearman on their ranks:
  two models calibrated differently can rank alike, and ranking is what a cut-off uses);
* **PSI** of the shadow's score distribution against the champion's, in the champion's score
  deciles (``src.models.drift``, the same index and bins monitoring uses), so "the
  challenger would move the score distribution" reads on the familiar bands;
* the share of **decisions that would flip**, each model at its own threshold, split into
  champion-approves/shadow-declines and the reverse (the two have different costs);
* **realised** metrics of both on the pairs whose outcome is known (one per application, its
  latest pair), once outcomes are joined.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np

from src.models.drift import numerical_entry, psi, reference_shares


def correlations(champion: np.ndarray, shadow: np.ndarray) -> tuple[float | None, float | None]:
    """(Pearson, Spearman) of two score vectors; None where undefined (n < 2 or constant)."""
    a, b = np.asarray(champion, dtype=float), np.asarray(shadow, dtype=float)
    if len(a) < 2 or np.ptp(a) == 0 or np.ptp(b) == 0:
        return None, None
    pearson = float(np.corrcoef(a, b)[0, 1])
    spearman = float(np.corrcoef(_ranks(a), _ranks(b))[0, 1])
    return pearson, spearman


def _ranks(values: np.ndarray) -> np.ndarray:
    """Average ranks (ties share their mean rank), as Spearman's coefficient needs."""
    order = np.argsort(values, kind="mergesort")
    ranks = np.empty(len(values), dtype=float)
    ranks[order] = np.arange(1, len(values) + 1, dtype=float)
    _, inverse, counts = np.unique(values, return_inverse=True, return_counts=True)
    sums = np.bincount(inverse, weights=ranks)
    return sums[inverse] / counts[inverse]


def score_psi(champion: np.ndarray, shadow: np.ndarray) -> float | None:
    """PSI of the shadow's scores in the champion's score bins (None without rows)."""
    if len(champion) == 0 or len(shadow) == 0:
        return None
    entry = numerical_entry(np.asarray(champion, dtype=np.float64))
    edges = np.asarray(entry["edges"], dtype=np.float64)
    bins = np.searchsorted(edges, np.asarray(shadow, dtype=np.float64), side="right")
    counts = np.bincount(bins, minlength=len(edges) + 1)
    return psi(reference_shares(entry), np.append(counts, 0))  # no missing scores


def flips(champion_pred: np.ndarray, shadow_pred: np.ndarray) -> dict[str, float | None]:
    """Shares of pairs whose decision differs (1 = predicted default, i.e. decline)."""
    c, s = np.asarray(champion_pred, dtype=int), np.asarray(shadow_pred, dtype=int)
    if len(c) == 0:
        return {"flip_share": None, "approve_to_decline": None, "decline_to_approve": None}
    return {
        "flip_share": float(np.mean(c != s)),
        "approve_to_decline": float(np.mean((c == 0) & (s == 1))),
        "decline_to_approve": float(np.mean((c == 1) & (s == 0))),
    }


def latest_labelled(labels: np.ndarray, application_ids: Sequence[str | None]) -> np.ndarray:
    """Indices of the pairs with an outcome, the last one per application (pairs in time order)."""
    latest: dict[str, int] = {}
    for i, (label, app) in enumerate(zip(labels, application_ids, strict=True)):
        if label >= 0 and app is not None:
            latest[app] = i
    return np.array(sorted(latest.values()), dtype=int)


def summarise(
    *,
    champion_proba: np.ndarray,
    shadow_proba: np.ndarray,
    champion_pred: np.ndarray,
    shadow_pred: np.ndarray,
    labels: np.ndarray,
    application_ids: Sequence[str | None],
    champion_threshold: float,
    shadow_threshold: float,
) -> dict[str, Any]:
    """The agreement summary of aligned pairs (see the module docstring)."""
    pearson, spearman = correlations(champion_proba, shadow_proba)
    summary: dict[str, Any] = {
        "n_pairs": len(shadow_proba),
        "pearson": pearson,
        "spearman": spearman,
        "score_psi": score_psi(champion_proba, shadow_proba),
        "mean_champion_score": float(np.mean(champion_proba)) if len(champion_proba) else None,
        "mean_shadow_score": float(np.mean(shadow_proba)) if len(shadow_proba) else None,
        **flips(champion_pred, shadow_pred),
    }
    keep = latest_labelled(labels, application_ids)
    summary["n_labelled"] = len(keep)
    summary["realised"] = None
    if len(keep):
        from src.models.metrics import classification_metrics  # sklearn: only when needed

        y = np.asarray(labels)[keep]
        summary["realised"] = {
            "champion": classification_metrics(
                y, np.asarray(champion_proba)[keep], threshold=champion_threshold
            ),
            "shadow": classification_metrics(
                y, np.asarray(shadow_proba)[keep], threshold=shadow_threshold
            ),
        }
    return summary
