"""Reference profiles and PSI/CSI: what "no drift" looks like for a model, and how far from it.

Pure numpy (plus scipy's chi-square quantile): no I/O.  A *profile* holds, per feature, the bins
of the model's training rows and the share of rows in each; a population is summarised as
counts in the same bins (in SQL on PostgreSQL, see ``src.data.drift_queries``) and compared
with :func:`psi`.  Every bin vector ends with a ``missing`` bin (categorical ones with an
``unseen`` bin before it), so a feature that starts arriving empty, or with new categories,
moves its index like any other shift.

Numerical bins are the deciles of the training rows, deduplicated: a discrete feature (mostly
0) gets fewer bins rather than nine identical edges.  Bins are ``[edge_i, edge_i+1)``, as
PostgreSQL's ``width_bucket`` counts them, and each edge is the smallest training value *above*
its decile, so the value the decile falls on stays in the bin below (0 and >= 1 are told apart
for a count that is 0 in 90% of rows).
"""

from __future__ import annotations

import itertools
import math
from typing import Any

import numpy as np
import pandas as pd
from scipy.stats import chi2  # type: ignore[import-untyped]  # a scikit-learn dependency

from src.data.feature_schema import FeatureSchema

PROFILE_FORMAT = 1
# PSI is infinite for a bin that is empty on one side; such bins are floored at this share.  It
# bounds one empty bin's contribution at about |share| * ln(share / 1e-4) (0.46 for a 10% bin),
# far above any band, so "a bin emptied" or "an unseen category appeared" still alarms.
SHARE_FLOOR = 1e-4
DECILES = np.linspace(0.1, 0.9, 9)
UNSEEN, MISSING = "(unseen)", "(missing)"


def build_profile(features: pd.DataFrame, schema: FeatureSchema, scores: np.ndarray) -> dict:
    """The reference profile of a model: its training features' bins and its score's bins.

    ``features`` are the model's TRAINING split (what it learnt the inputs look like).
    ``scores`` are the model's probabilities on its VALIDATION split: those rows were held out
    from gradient steps, so their scores are distributed as live scores will be; scores of
    training rows are over-confident (fitted) and would make every live window look drifted.
    """
    entries: dict[str, dict[str, Any]] = {}
    for name in schema.categorical:
        entries[name] = _categorical_entry(features[name].to_numpy(dtype=object))
    for name in schema.numerical:
        entries[name] = numerical_entry(features[name].to_numpy(dtype=np.float64))
    score = numerical_entry(np.asarray(scores, dtype=np.float64))
    return {
        "format": PROFILE_FORMAT,
        "n_rows": len(features),
        "features": entries,
        "score": score,
    }


def numerical_entry(values: np.ndarray) -> dict[str, Any]:
    """Decile edges (deduplicated), the share of rows per bin, and the share missing."""
    n = len(values)
    present = values[~np.isnan(values)]
    edges = decile_edges(present)
    counts = np.bincount(np.searchsorted(edges, present, side="right"), minlength=len(edges) + 1)
    return {
        "kind": "numerical",
        "edges": [float(e) for e in edges],
        "shares": _shares(counts, n),
        "missing": (n - len(present)) / n if n else 0.0,
        "n_rows": n,
    }


def decile_edges(present: np.ndarray) -> np.ndarray:
    """For each decile, the smallest value above it; deduplicated, ascending."""
    if len(present) == 0:
        return np.zeros(0, dtype=np.float64)
    ordered = np.sort(present)
    above = np.searchsorted(ordered, np.quantile(ordered, DECILES), side="right")
    return np.unique(ordered[above[above < len(ordered)]])


def _categorical_entry(values: np.ndarray) -> dict[str, Any]:
    n = len(values)
    missing = np.array([v is None or (isinstance(v, float) and math.isnan(v)) for v in values])
    categories, counts = np.unique(values[~missing].astype(str), return_counts=True)
    return {
        "kind": "categorical",
        "categories": [str(c) for c in categories],
        "shares": _shares(counts, n),
        "unseen": 0.0,
        "missing": float(missing.sum()) / n if n else 0.0,
        "n_rows": n,
    }


def _shares(counts: np.ndarray, n: int) -> list[float]:
    return [float(c) / n if n else 0.0 for c in counts]


def reference_shares(entry: dict[str, Any]) -> np.ndarray:
    """An entry's shares as one vector: value bins, then ``unseen`` (categorical), ``missing``."""
    tail = [entry["unseen"], entry["missing"]] if entry["kind"] == "categorical" else []
    tail = tail or [entry["missing"]]
    return np.asarray([*entry["shares"], *tail], dtype=np.float64)


def bin_labels(entry: dict[str, Any]) -> list[str]:
    """Readable labels of :func:`reference_shares`' bins, for reports and plots."""
    if entry["kind"] == "categorical":
        return [*entry["categories"], UNSEEN, MISSING]
    edges = [f"{e:.6g}" for e in entry["edges"]]
    if not edges:
        return ["all values", MISSING]
    inner = [f"[{lo}, {hi})" for lo, hi in itertools.pairwise(edges)]
    return [f"< {edges[0]}", *inner, f">= {edges[-1]}", MISSING]


def psi(reference_shares: np.ndarray, current_counts: np.ndarray) -> float:
    """Population stability index ``sum((c - r) * ln(c / r))`` over matching bins.

    ``current_counts`` are turned into shares; both sides are floored at :data:`SHARE_FLOOR`
    (not renormalised), so a bin empty on both sides adds exactly 0 and a bin empty on one
    side adds a large but finite amount.  CSI is the same index on one input feature.
    """
    ref = np.maximum(np.asarray(reference_shares, dtype=np.float64), SHARE_FLOOR)
    counts = np.asarray(current_counts, dtype=np.float64)
    if ref.shape != counts.shape:
        raise ValueError(f"{counts.shape[0]} current bins for {ref.shape[0]} reference bins")
    total = counts.sum()
    if total <= 0:
        raise ValueError("PSI needs at least one current row")
    cur = np.maximum(counts / total, SHARE_FLOOR)
    return float(np.sum((cur - ref) * np.log(cur / ref)))


def psi_null_p99(*, bins: int, n_reference: int, n_current: int) -> float:
    """The 99th percentile of PSI when nothing changed, for these bin count and sample sizes.

    For two samples of one distribution, PSI ~ chi2(B - 1) * (1/n + 1/m) (its second-order
    expansion is the two-sample chi-square statistic).  ``bins`` counts the bins with a
    non-zero reference share: the others stay empty under no change.
    """
    if n_reference < 1 or n_current < 1:
        raise ValueError("both samples need at least one row")
    dof = max(bins - 1, 1)
    return float(chi2.ppf(0.99, dof) * (1.0 / n_reference + 1.0 / n_current))


def occupied_bins(reference_shares: np.ndarray) -> int:
    """The ``bins`` argument of :func:`psi_null_p99`: reference bins that hold any rows."""
    return int(np.count_nonzero(np.asarray(reference_shares) > 0))


def drift_status(psi: float, *, null_p99: float, investigate: float, act: float) -> str:
    """``stable`` | ``investigate`` | ``act``: the PSI band, given only above the null's p99.

    Small windows have a large PSI by chance alone; a band is trusted only when the PSI is
    also beyond what sampling noise gives 99% of the time.
    """
    if psi <= null_p99 or psi < investigate:
        return "stable"
    return "investigate" if psi < act else "act"
