"""The card's computed sections from labels and probabilities (pure: no database).

``card`` gathers the inputs; this module decides what each section says, including the
generated "intended use and limitations" text, so it can be tested on small arrays.
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np

from src.models.metrics import METRIC_NAMES, classification_metrics
from src.reporting import quant

# Metrics compared champion vs challenger, in the order a committee reads them.
COMPARED = (
    "roc_auc",
    "gini",
    "ks",
    "pr_auc",
    "f1_score",
    "precision",
    "recall",
    "brier_score",
    "ece",
    "log_loss",
)
LOWER_IS_BETTER = frozenset({"brier_score", "ece", "log_loss"})


def clean(value: Any) -> Any:
    """NaN and infinities become None: JSON has no NaN, and a blank beats a fake number."""
    if isinstance(value, float) and not math.isfinite(value):
        return None
    if isinstance(value, dict):
        return {k: clean(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [clean(v) for v in value]
    return value


def evaluate(labels: np.ndarray, proba: np.ndarray, *, threshold: float) -> dict[str, Any]:
    """Discrimination, calibration and decision sections for one model on one set of rows."""
    y = np.asarray(labels).astype(int)
    metrics = classification_metrics(y, proba, threshold=threshold)
    two_classes = 0 < int(y.sum()) < len(y)
    deciles = quant.decile_table(y, proba)
    return clean(
        {
            "rows": {"n": len(y), "bads": int(y.sum()), "base_rate": float(y.mean())},
            "metrics": {name: metrics[name] for name in METRIC_NAMES},
            "discrimination": {
                "roc": quant.roc_points(y, proba) if two_classes else None,
                "pr": quant.pr_points(y, proba) if two_classes else None,
                "ks": quant.ks_curve(y, proba) if two_classes else None,
                "bootstrap": quant.bootstrap_intervals(y, proba, threshold=threshold),
            },
            "calibration": {
                "reliability": quant.reliability_bins(y, proba),
                "brier_score": metrics["brier_score"],
                "ece": metrics["ece"],
                "log_loss": metrics["log_loss"],
            },
            "decisions": {
                "threshold": threshold,
                "confusion": quant.confusion(y, proba, threshold=threshold),
                "histogram": quant.score_histogram(y, proba),
                "deciles": deciles,
            },
        }
    )


def compare(
    *,
    labels: np.ndarray,
    proba: np.ndarray,
    threshold: float,
    rival_proba: np.ndarray,
    rival_threshold: float,
) -> dict[str, Any]:
    """This model and its rival on the same rows: each metric, the delta, who is better."""
    mine = classification_metrics(labels, proba, threshold=threshold)
    theirs = classification_metrics(labels, rival_proba, threshold=rival_threshold)
    rows = []
    for name in COMPARED:
        delta = mine[name] - theirs[name]
        better = (delta < 0) if name in LOWER_IS_BETTER else (delta > 0)
        rows.append(
            {
                "metric": name,
                "model": mine[name],
                "rival": theirs[name],
                "delta": delta,
                "better": bool(better) if math.isfinite(delta) and delta != 0 else None,
            }
        )
    return clean({"n_rows": len(labels), "bads": int(np.sum(labels)), "metrics": rows})


def benchmark(
    *, model_metrics: dict[str, float | None], benchmark_metrics: dict[str, float] | None
) -> dict[str, Any]:
    """The model against its logistic-regression benchmark, from the registry's figures.

    Both sets were computed at training on the model's own test rows with the same metric
    function (``src.models.baselines``), so they compare like with like without rescoring.
    The verdict names the better one on ROC-AUC, the figure ``REQUIRE_BEAT_BENCHMARK`` uses.
    """
    if not benchmark_metrics:
        return {
            "metrics": None,
            "note": "No benchmark recorded: this model was registered before benchmarks were.",
        }
    rows = []
    for name in COMPARED:
        mine, theirs = model_metrics.get(name), benchmark_metrics.get(name)
        delta = None if mine is None or theirs is None else mine - theirs
        better = None
        if delta is not None and math.isfinite(delta) and delta != 0:
            better = delta < 0 if name in LOWER_IS_BETTER else delta > 0
        rows.append(
            {"metric": name, "model": mine, "benchmark": theirs, "delta": delta, "better": better}
        )
    auc, bench = model_metrics.get("roc_auc"), benchmark_metrics.get("roc_auc")
    if auc is None or bench is None or not (math.isfinite(auc) and math.isfinite(bench)):
        verdict = "ROC-AUC is undefined for one of the two; no verdict."
    elif auc > bench:
        verdict = (
            f"This model is better than its benchmark on ROC-AUC: {auc:.3f} vs {bench:.3f} "
            f"(+{auc - bench:.3f})."
        )
    elif auc < bench:
        verdict = (
            f"The logistic-regression benchmark is better on ROC-AUC: {bench:.3f} vs this "
            f"model's {auc:.3f} ({auc - bench:+.3f}); the TabTransformer adds no ranking power "
            "over it on these rows."
        )
    else:
        verdict = f"A tie on ROC-AUC ({auc:.3f}): the model does not beat its benchmark."
    return clean(
        {
            "model": "logistic regression (src.models.baselines)",
            "threshold": benchmark_metrics.get("threshold"),
            "c": benchmark_metrics.get("C"),
            "metrics": rows,
            "verdict": verdict,
        }
    )


def intended_use(
    *, source: str, evaluation: dict[str, Any], n_features: int, threshold: float
) -> list[str]:
    """Plain-language use and limitations, with the honest note on what F1 the data supports."""
    rows = evaluation["rows"]
    boot = evaluation["discrimination"]["bootstrap"]
    f1 = evaluation["metrics"]["f1_score"]
    base = rows["base_rate"] or 0.0
    text = [
        f"Intended use: ranking applications of the {source!r} model line by their probability "
        f"of default, and flagging those at or above the stored threshold {threshold:.3f} for "
        "review. It is a decision aid for a credit officer, not an automatic decline.",
        f"Evidence: {rows['n']} held-out test rows with {rows['bads']} defaults (base rate "
        f"{base:.1%}) that no model of this line trained on; {n_features} features. Numbers on "
        "other populations (another product, region or period) are not covered by this report.",
    ]
    interval = boot.get("f1_score")
    if f1 is not None and interval:
        width = interval[1] - interval[0]
        text.append(
            f"What F1 the data supports: F1 is {f1:.3f}, with a 95% bootstrap interval of "
            f"{interval[0]:.3f}-{interval[1]:.3f} ({boot['resamples']} resamples). Flagging "
            f"everyone would score {quant.no_skill_f1(base):.3f}. Differences in F1 smaller "
            f"than about {width / 2:.3f} between models are within the noise of this test set "
            "and should not decide a promotion on their own."
        )
    if rows["bads"] < 100:
        text.append(
            f"Only {rows['bads']} defaults are held out: every rate in this report is uncertain "
            "to a degree the intervals show; collect more labelled data before relying on it."
        )
    text.append(
        "Limitations: the model sees only the listed features; it was trained on historical "
        "outcomes and inherits their selection (only approved loans have outcomes). Fairness "
        "across protected groups is not measured here. Reason codes are occlusion effects on "
        "this model, not causal explanations."
    )
    return text
