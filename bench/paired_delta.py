"""Paired per-fold ROC-AUC deltas between two ``bench/model_quality.py --json`` runs.

The "what we tried" table in docs/benchmarks.md judges a change by the *paired* difference:
both runs use the same outer folds (same ``--folds`` and ``--seed``), so fold-to-fold noise
(±0.02-0.04 AUC on lending_club) cancels and "folds better" says how consistent a gain is.

    python bench/paired_delta.py /tmp/plain.json /tmp/ple.json
    python bench/paired_delta.py /tmp/plain.json /tmp/ple.json --models TT --label "ple"

Prints one markdown row per (dataset, labels, model) present in both files.  ``--metric f1``
pairs the F1 of the default class instead.  A seed-ensemble run (``--set ensemble_size=K``)
also scores each member alone; ``--member 0`` reads the base from that run's member 0, which
is bit for bit the single model the same seed trains (the base file is then not read):

    python bench/paired_delta.py - /tmp/ens.json --member 0
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
from collections import defaultdict
from pathlib import Path
from typing import Any

Key = tuple[str, str, str]  # (dataset, regime, model)


def by_fold(results: list[dict[str, Any]], metric: str = "roc_auc") -> dict[Key, dict[int, float]]:
    """``metric`` (ROC-AUC by default) per fold, grouped by (dataset, regime, model)."""
    out: dict[Key, dict[int, float]] = defaultdict(dict)
    for r in results:
        out[(r["dataset"], r["regime"], r["model"])][int(r["fold"])] = float(r[metric])
    return out


def member_results(results: list[dict[str, Any]], member: int) -> list[dict[str, Any]]:
    """An ensemble run's fits as scored by member ``member`` alone (fits without members out)."""
    out = []
    for r in results:
        if len(r.get("members") or []) > member:
            scored = r["members"][member]
            out.append(r | {"roc_auc": scored["roc_auc"], "f1": scored["f1_score"]})
    return out


def paired_rows(
    base: list[dict[str, Any]],
    new: list[dict[str, Any]],
    models: list[str] | None = None,
    metric: str = "roc_auc",
) -> list[dict[str, Any]]:
    """Per group present in both runs: means, mean ± std of the per-fold delta, folds better.

    Only folds present in both runs are paired; a group with none is skipped.
    """
    a, b = by_fold(base, metric), by_fold(new, metric)
    rows = []
    for key in sorted(set(a) & set(b)):
        if models and key[2] not in models:
            continue
        folds = sorted(set(a[key]) & set(b[key]))
        if not folds:
            continue
        deltas = [b[key][f] - a[key][f] for f in folds]
        rows.append(
            {
                "dataset": key[0],
                "regime": key[1],
                "model": key[2],
                "folds": len(folds),
                "base": statistics.fmean(a[key][f] for f in folds),
                "new": statistics.fmean(b[key][f] for f in folds),
                "delta": statistics.fmean(deltas),
                "delta_std": statistics.stdev(deltas) if len(deltas) > 1 else 0.0,
                "better": sum(d > 0 for d in deltas),
            }
        )
    return rows


def markdown(rows: list[dict[str, Any]], label: str, metric: str = "roc_auc") -> str:
    name = {"roc_auc": "AUC", "f1": "F1", "fit_s": "fit s"}.get(metric, metric)
    lines = [
        f"| change | dataset | labels | model | base {name} | new {name} | paired Δ (mean ± std) "
        "| folds better |",
        "|---|---|---|---|---|---|---|---|",
    ]
    for r in rows:
        lines.append(
            f"| {label} | {r['dataset']} | {r['regime']} | {r['model']} | {r['base']:.3f} "
            f"| {r['new']:.3f} | {r['delta']:+.3f} ± {r['delta_std']:.3f} "
            f"| {r['better']} / {r['folds']} |"
        )
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("base", type=Path, help="--json of the reference run (- with --member)")
    parser.add_argument("new", type=Path, help="--json of the changed run")
    parser.add_argument("--models", nargs="+", help="only these models (e.g. TT)")
    parser.add_argument("--label", default="new", help="text of the change column")
    parser.add_argument("--metric", default="roc_auc", choices=("roc_auc", "f1", "fit_s"))
    parser.add_argument("--member", type=int, help="base = this member of the new run")
    args = parser.parse_args(argv)
    new = json.loads(args.new.read_text(encoding="utf-8"))
    if args.member is not None:
        base = member_results(new, args.member)
    else:
        base = json.loads(args.base.read_text(encoding="utf-8"))
    rows = paired_rows(base, new, args.models, args.metric)
    if not rows:
        print("no (dataset, labels, model) with common folds in both files", file=sys.stderr)
        return 1
    print(markdown(rows, args.label, args.metric))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
