"""Test-split calibration per fold and pooled, from ``bench/model_quality.py --json`` runs.

Issue 11's goal is a test-split ECE <= 0.02.  Whether a figure is near that goal depends on
the test sample: ECE over 10 equal-mass bins is never 0 on a finite sample, and its floor (the
mean ECE a *perfectly* calibrated model would show, outcomes drawn from its own PDs) shrinks
roughly like 1/sqrt(rows per bin).  So every ECE here stands beside its floor, per fold (one
test fold, ~890 rows on credit_data) and pooled (every row scored once, by the fold model
that did not train on it).

    python bench/calibration_folds.py /tmp/base.json /tmp/vf25.json --labels base "vf=0.25"
    python bench/calibration_folds.py /tmp/new.json --models TT+pretrain

Prints one markdown table; with two or more runs, the paired per-fold ECE delta of each run
against the first (same folds).  Needs the JSON written by this version of model_quality.py
(it carries ``ece``, ``brier``, ``mean_pd`` and the test PDs per fold).
"""

from __future__ import annotations

import argparse
import json
import statistics
from collections import defaultdict
from pathlib import Path
from typing import Any

import numpy as np
from calibration import noise_floor

from src.models.metrics import expected_calibration_error

Key = tuple[str, str, str]  # (dataset, regime, model)


def _ms(values: list[float], digits: int = 3) -> str:
    std = statistics.stdev(values) if len(values) > 1 else 0.0
    return f"{statistics.fmean(values):.{digits}f} ± {std:.{digits}f}"


def summarise(results: list[dict[str, Any]]) -> dict[Key, dict[str, Any]]:
    """Per (dataset, regime, model): per-fold figures and the pooled ECE, each with its floor."""
    groups: dict[Key, list[dict[str, Any]]] = defaultdict(list)
    for r in results:
        if "test_pd" in r:
            groups[(r["dataset"], r["regime"], r["model"])].append(r)
    out: dict[Key, dict[str, Any]] = {}
    for key, folds in groups.items():
        folds.sort(key=lambda r: r["fold"])
        pds = [np.asarray(r["test_pd"], dtype=float) for r in folds]
        ys = [np.asarray(r["test_y"], dtype=int) for r in folds]
        pooled_pd, pooled_y = np.concatenate(pds), np.concatenate(ys)
        out[key] = {
            "folds": {r["fold"]: r for r in folds},
            "rows": len(pooled_y),
            "fold_rows": statistics.fmean(len(y) for y in ys),
            "ece_fold_floor": statistics.fmean(noise_floor(p) for p in pds),
            "ece_pooled": expected_calibration_error(pooled_y, pooled_pd),
            "ece_pooled_floor": noise_floor(pooled_pd),
        }
    return out


def rows_for(label: str, key: Key, s: dict[str, Any], base: dict[str, Any] | None) -> list[str]:
    folds = [s["folds"][f] for f in sorted(s["folds"])]
    paired = "—"
    if base is not None and base is not s:
        common = sorted(set(s["folds"]) & set(base["folds"]))
        deltas = [s["folds"][f]["ece"] - base["folds"][f]["ece"] for f in common]
        if common:
            better = sum(d < 0 for d in deltas)
            paired = f"{_ms(deltas)} ({better} / {len(common)} lower)"
    return [
        label,
        *key,
        f"{s['fold_rows']:,.0f}",
        f"{statistics.fmean(r['base_rate'] for r in folds):.3f}",
        _ms([r["mean_pd"] for r in folds]),
        _ms([r["ece"] for r in folds]),
        f"{s['ece_fold_floor']:.3f}",
        f"{s['ece_pooled']:.3f}",
        f"{s['ece_pooled_floor']:.3f}",
        paired,
        _ms([r["brier"] for r in folds], 4),
        _ms([r["f1"] for r in folds]),
        _ms([r["roc_auc"] for r in folds]),
    ]


HEADER = [
    "run",
    "dataset",
    "labels",
    "model",
    "test rows / fold",
    "base rate",
    "mean PD",
    "ECE per fold",
    "floor / fold",
    "ECE pooled",
    "floor pooled",
    "paired Δ ECE vs first run",
    "Brier",
    "F1 (bad)",
    "ROC-AUC",
]


def markdown(runs: list[tuple[str, dict[Key, dict[str, Any]]]], models: list[str] | None) -> str:
    lines = ["| " + " | ".join(HEADER) + " |", "|" + "---|" * len(HEADER)]
    first = runs[0][1]
    keys = sorted({k for _, summary in runs for k in summary})
    for key in keys:
        if models and key[2] not in models:
            continue
        for label, summary in runs:
            if key in summary:
                cells = rows_for(label, key, summary[key], first.get(key))
                lines.append("| " + " | ".join(cells) + " |")
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("runs", nargs="+", type=Path, help="model_quality.py --json files")
    parser.add_argument("--labels", nargs="+", help="one name per run (default: file names)")
    parser.add_argument("--models", nargs="+", help="only these models (e.g. TT+pretrain)")
    args = parser.parse_args(argv)
    labels = args.labels or [p.stem for p in args.runs]
    if len(labels) != len(args.runs):
        parser.error("give one label per run")
    runs = [
        (label, summarise(json.loads(path.read_text(encoding="utf-8"))))
        for label, path in zip(labels, args.runs, strict=True)
    ]
    if not any(summary for _, summary in runs):
        parser.error("no run carries test PDs (rerun model_quality.py with this version)")
    print(markdown(runs, args.models))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
