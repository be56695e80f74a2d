"""The numbers of a model report, computed from labels and probabilities only (pure numpy).

Credit conventions: the positive class (1) is a default ("bad"); deciles are ranked from the
riskiest score down, so decile 1 holds the highest probabilities and the cumulative capture
of bads reads like a gains chart.  Curves are thinned to at most ``max_points`` points: a
report must stay small whatever the size of the test split.
"""

from __future__ import annotations

from typing import Any

import numpy as np

BOOTSTRAP_RESAMPLES = 1000
BOOTSTRAP_SEED = 20240612


def _arrays(y_true: np.ndarray, proba: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    y = np.asarray(y_true).astype(np.int64).ravel()
    p = np.asarray(proba, dtype=np.float64).ravel()
    if y.shape != p.shape or len(y) == 0:
        raise ValueError(f"labels {y.shape} and probabilities {p.shape}: need equal, non-empty")
    if not set(np.unique(y).tolist()) <= {0, 1}:
        raise ValueError("labels must be 0/1")
    return y, p


def _thin(*columns: np.ndarray, max_points: int) -> list[list[float]]:
    """Keep at most ``max_points`` evenly spaced points, always the first and the last."""
    n = len(columns[0])
    keep = np.unique(np.linspace(0, n - 1, min(n, max_points)).round().astype(int))
    return [[float(v) for v in column[keep]] for column in columns]


def _midranks(values: np.ndarray) -> np.ndarray:
    """1-based ranks, ties sharing the mean of their ranks."""
    order = np.argsort(values, kind="stable")
    ordered = values[order]
    starts = np.r_[True, ordered[1:] != ordered[:-1]]
    first = np.flatnonzero(starts)  # position of each tie group's first member
    ends = np.r_[first[1:], len(values)]
    ranks = np.empty(len(values))
    ranks[order] = ((first + 1 + ends) / 2.0)[np.cumsum(starts) - 1]
    return ranks


def rank_auc(y_true: np.ndarray, proba: np.ndarray) -> float:
    """ROC AUC as the Mann-Whitney statistic with mid-ranks for ties (NaN with one class).

    Written out rather than taken from sklearn because the bootstrap calls it a thousand
    times: one sort per resample is several times faster than ``roc_auc_score``.
    """
    y, p = _arrays(y_true, proba)
    n_pos = int(y.sum())
    n_neg = len(y) - n_pos
    if n_pos == 0 or n_neg == 0:
        return float("nan")
    ranks = _midranks(p)
    return float((ranks[y == 1].sum() - n_pos * (n_pos + 1) / 2) / (n_pos * n_neg))


def roc_points(y_true: np.ndarray, proba: np.ndarray, *, max_points: int = 200) -> dict[str, Any]:
    from sklearn.metrics import roc_curve

    y, p = _arrays(y_true, proba)
    fpr, tpr, _ = roc_curve(y, p)
    auc = rank_auc(y, p)
    xs, ys = _thin(fpr, tpr, max_points=max_points)
    return {"fpr": xs, "tpr": ys, "auc": auc, "gini": 2.0 * auc - 1.0}


def pr_points(y_true: np.ndarray, proba: np.ndarray, *, max_points: int = 200) -> dict[str, Any]:
    from sklearn.metrics import average_precision_score, precision_recall_curve

    y, p = _arrays(y_true, proba)
    precision, recall, _ = precision_recall_curve(y, p)
    rs, ps = _thin(recall[::-1], precision[::-1], max_points=max_points)
    return {
        "recall": rs,
        "precision": ps,
        "average_precision": float(average_precision_score(y, p)),
        "base_rate": float(y.mean()),
    }


def ks_curve(y_true: np.ndarray, proba: np.ndarray, *, max_points: int = 200) -> dict[str, Any]:
    """Cumulative shares of bads and goods at or above each score; KS is their widest gap.

    Computed at distinct score values only, so tied scores never open an artificial gap.
    """
    y, p = _arrays(y_true, proba)
    n_bad, n_good = int(y.sum()), int(len(y) - y.sum())
    if n_bad == 0 or n_good == 0:
        raise ValueError("the KS curve needs both classes")
    order = np.argsort(-p, kind="stable")
    p_sorted, y_sorted = p[order], y[order]
    last_of_value = np.r_[p_sorted[1:] != p_sorted[:-1], True]  # end of each tie group
    cum_bad = np.cumsum(y_sorted)[last_of_value] / n_bad
    cum_good = np.cumsum(1 - y_sorted)[last_of_value] / n_good
    scores = p_sorted[last_of_value]
    share = (np.flatnonzero(last_of_value) + 1) / len(y)
    gap = cum_bad - cum_good
    best = int(np.argmax(gap))
    pop, bads, goods = _thin(
        np.r_[0.0, share], np.r_[0.0, cum_bad], np.r_[0.0, cum_good], max_points=max_points
    )
    return {
        "population_share": pop,
        "cum_bad": bads,
        "cum_good": goods,
        "ks": float(gap[best]),
        "ks_score": float(scores[best]),
        "ks_population_share": float(share[best]),
    }


def confusion(y_true: np.ndarray, proba: np.ndarray, *, threshold: float) -> dict[str, int]:
    y, p = _arrays(y_true, proba)
    pred = p >= threshold
    return {
        "tn": int(((y == 0) & ~pred).sum()),
        "fp": int(((y == 0) & pred).sum()),
        "fn": int(((y == 1) & ~pred).sum()),
        "tp": int(((y == 1) & pred).sum()),
    }


def decile_table(y_true: np.ndarray, proba: np.ndarray, *, groups: int = 10) -> list[dict]:
    """Equal-count groups from the riskiest score down, with bad rate, capture and lift.

    Rows with equal scores are kept in their input order (stable sort), so the table is
    reproducible; ``lift`` is the group's bad rate over the overall bad rate.
    """
    y, p = _arrays(y_true, proba)
    order = np.argsort(-p, kind="stable")
    total_bad = int(y.sum())
    overall = total_bad / len(y)
    rows: list[dict] = []
    captured = 0
    for index, chunk in enumerate(np.array_split(order, min(groups, len(y))), start=1):
        bad = int(y[chunk].sum())
        captured += bad
        rate = bad / len(chunk)
        rows.append(
            {
                "decile": index,
                "n": len(chunk),
                "min_score": float(p[chunk].min()),
                "max_score": float(p[chunk].max()),
                "bads": bad,
                "bad_rate": rate,
                "cum_bad_capture": captured / total_bad if total_bad else float("nan"),
                "lift": rate / overall if overall else float("nan"),
            }
        )
    return rows


def reliability_bins(y_true: np.ndarray, proba: np.ndarray, *, bins: int = 10) -> list[dict]:
    """Equal-mass bins of the predicted probability (the same bins as the stored ECE)."""
    y, p = _arrays(y_true, proba)
    order = np.argsort(p, kind="stable")
    return [
        {"n": len(c), "mean_predicted": float(p[c].mean()), "observed_rate": float(y[c].mean())}
        for c in np.array_split(order, min(bins, len(y)))
    ]


def score_histogram(y_true: np.ndarray, proba: np.ndarray, *, bins: int = 20) -> dict[str, Any]:
    y, p = _arrays(y_true, proba)
    edges = np.linspace(0.0, 1.0, bins + 1)
    clipped = np.clip(p, 0.0, 1.0)
    return {
        "edges": edges.tolist(),
        "good": np.histogram(clipped[y == 0], bins=edges)[0].tolist(),
        "bad": np.histogram(clipped[y == 1], bins=edges)[0].tolist(),
    }


def bootstrap_indices(n: int, *, resamples: int, seed: int) -> np.ndarray:
    """(resamples, n) row indices drawn with replacement; public so tests can replay them."""
    return np.random.default_rng(seed).integers(0, n, size=(resamples, n))


def bootstrap_intervals(
    y_true: np.ndarray,
    proba: np.ndarray,
    *,
    threshold: float,
    resamples: int = BOOTSTRAP_RESAMPLES,
    seed: int = BOOTSTRAP_SEED,
    level: float = 0.95,
) -> dict[str, Any]:
    """Percentile bootstrap intervals of AUC and F1 (the positive class) on these rows.

    Resamples holding one class only have no AUC and are left out of its interval (their
    count is reported); F1 is defined on all of them (0 when nothing is predicted positive).
    """
    y, p = _arrays(y_true, proba)
    idx = bootstrap_indices(len(y), resamples=resamples, seed=seed)  # (B, n)
    ys, pred = y[idx], (p >= threshold)[idx]  # (B, n)
    tp = (ys & pred).sum(axis=1)
    denom = ys.sum(axis=1) + pred.sum(axis=1)  # 2TP + FP + FN = positives + predicted
    f1 = np.divide(2.0 * tp, denom, out=np.zeros(resamples), where=denom > 0)
    aucs = np.array([rank_auc(ys[b], p[idx[b]]) for b in range(resamples)])
    aucs = aucs[np.isfinite(aucs)]
    tails = [100 * (1 - level) / 2, 100 * (1 + level) / 2]

    def interval(values: np.ndarray) -> list[float] | None:
        return [float(v) for v in np.percentile(values, tails)] if len(values) else None

    return {
        "level": level,
        "resamples": resamples,
        "seed": seed,
        "roc_auc": interval(aucs),
        "roc_auc_resamples": len(aucs),
        "f1_score": interval(f1),
        "f1_se": float(f1.std(ddof=1)) if resamples > 1 else float("nan"),
    }


def no_skill_f1(base_rate: float) -> float:
    """F1 of flagging everyone: the floor any useful model must clear (2p / (1 + p))."""
    return 2.0 * base_rate / (1.0 + base_rate)
