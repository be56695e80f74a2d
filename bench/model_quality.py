"""Model quality: the project's TabTransformer against logistic regression and LightGBM.

A thin wrapper over ``src.pipeline.benchmark`` (the protocol, also run by
``loan-default benchmark`` on a user's own data) that runs the fits in parallel processes and
writes the docs/benchmarks.md section.  Datasets: modeldata/lending_club (label Class, positive
"bad") and modeldata/credit_data (label Status, positive "bad"), read by
``src.pipeline.benchmark_data`` exactly as ingestion reads them.  Outer splits: stratified
K-fold (default 5) with one seed; every model sees identical splits.  Inside each training
part the protocol is production's: a stratified validation split (``validation_fraction``)
is used for early stopping / model selection and for the F1-maximising threshold
(``best_f1_threshold``); the test fold is touched only for the final metrics.

Models:

* ``TT+pretrain``: ``TrainingConfig.from_settings(get_settings())`` and
  ``src.models.fitting.fit_bundle``, the recipe the pipeline stages run: Preprocessor fitted
  on the training part, ``build_model``, NT-Xent pretraining on the training rows, fine-tuning.
* ``TT``: the same with ``pretrain_epochs=0``.
* ``LogReg``: ``src.models.baselines.fit_logreg_baseline``, the benchmark model the pipeline
  records with every registered model: median imputation + missing flags + scaling, one-hot
  categoricals, C tuned on the validation split.
* ``LightGBM``: native categoricals, a small grid (num_leaves x min_child_samples) with early
  stopping on the validation split.

Regimes: ``all`` (every training row labelled) and ``10%`` (a stratified 10% of the training
rows labelled; TT+pretrain pretrains on *all* training rows' features, the others see only the
labelled 10%).

    python bench/model_quality.py                  # full run, writes docs/benchmarks.md
    python bench/model_quality.py --quick --output /tmp/b.md
    python bench/model_quality.py --set use_cls=true --label "CLS token" --output /tmp/x.md
"""

from __future__ import annotations

import argparse
import json
import logging
import os
import time
from collections import defaultdict
from concurrent.futures import ProcessPoolExecutor, as_completed
from functools import lru_cache
from pathlib import Path
from typing import Any

os.environ.setdefault("OMP_NUM_THREADS", "1")  # one thread per worker process, set before numpy

import numpy as np
from _common import (
    bench_parser,
    mean_std,
    measured_table,
    publish,
    setup_logging,
)

from src.pipeline.benchmark import MODELS as BENCHMARK_MODELS

logger = logging.getLogger("bench.model_quality")

DATASETS = ("lending_club", "credit_data")
# Display name here -> model name of src.pipeline.benchmark (and `loan-default benchmark`).
MODELS = dict(zip(("TT+pretrain", "TT", "LogReg", "LightGBM"), BENCHMARK_MODELS, strict=True))
REGIMES = {"all": "all", "10%": "10pct"}


@lru_cache(maxsize=4)
def load_dataset(name: str, max_rows: int | None = None) -> Any:
    """The bundled dataset as ``loan-default benchmark --source NAME`` reads it."""
    from src.data.source_options import SourceOptions
    from src.pipeline.benchmark_data import load_benchmark_data

    return load_benchmark_data(SourceOptions(source=name), max_rows=max_rows)


def run_task(task: dict[str, Any]) -> dict[str, Any]:
    """One (dataset, fold, regime, model) fit + test metrics; runs in a worker process."""
    import torch

    from config.settings import get_settings
    from src.pipeline.benchmark import benchmark_config, fit_and_score, plan_folds

    torch.set_num_threads(1)
    setup_logging("WARNING")
    data = load_dataset(task["dataset"], task["max_rows"])
    plans = plan_folds(
        data.labels,
        folds=task["folds"],
        regimes=[REGIMES[task["regime"]]],
        seed=task["seed"],
        valid_fraction=get_settings().validation_fraction,
    )
    plan = next(p for p in plans if p.fold == task["fold"])
    config = benchmark_config(quick=False, overrides={"torch_num_threads": 1, **task["overrides"]})
    result = fit_and_score(
        data, plan=plan, model=MODELS[task["model"]], config=config, lgbm_grid=task["grid"]
    )
    return {
        **{k: task[k] for k in ("dataset", "regime", "model", "fold")},
        "roc_auc": result.roc_auc,
        "pr_auc": result.pr_auc,
        "f1": result.f1,
        "fit_s": result.fit_seconds,
        "n_labelled": result.n_labelled,
        "n_valid_positive": int(data.labels[plan.valid].sum()),
        # Calibration of the served PDs on the test fold (bench/calibration_folds.py pools
        # the folds' rows, so the PDs and labels travel too).
        **result.calibration(data.labels),
        "test_pd": [round(float(p), 6) for p in result.test_pd],
        "test_y": [int(v) for v in data.labels[plan.test]],
        # ENSEMBLE_SIZE > 1: each member scored alone; member 0 = the single model (paired).
        "members": list(result.members),
    }


def _members_text(members: list[dict[str, float]]) -> str:
    """An ensemble's members scored alone, for the progress log (empty for one model)."""
    if not members:
        return ""
    return "; members AUC " + ", ".join(f"{m['roc_auc']:.3f}" for m in members)


# --------------------------------------------------------------------------- report
def report(results: list[dict[str, Any]], args: argparse.Namespace, elapsed: float) -> str:
    groups: dict[tuple[str, str, str], list[dict[str, Any]]] = defaultdict(list)
    for r in results:
        groups[(r["dataset"], r["regime"], r["model"])].append(r)
    rows = []
    for dataset in args.datasets:
        for regime in args.regimes:
            present = [m for m in args.models if groups.get((dataset, regime, m))]
            best_base = max(
                (
                    np.mean([r["roc_auc"] for r in groups[(dataset, regime, m)]])
                    for m in present
                    if m in ("LogReg", "LightGBM")
                ),
                default=float("nan"),
            )
            for m in present:
                g = sorted(groups[(dataset, regime, m)], key=lambda r: r["fold"])
                auc = np.mean([r["roc_auc"] for r in g])
                baseline = m in ("LogReg", "LightGBM") or np.isnan(best_base)  # none run
                delta = "" if baseline else f"{auc - best_base:+.3f}"
                rows.append(
                    [
                        dataset,
                        regime,
                        f"{g[0]['n_labelled']:,}",
                        m,
                        mean_std([r["roc_auc"] for r in g]),
                        delta,
                        mean_std([r["pr_auc"] for r in g]),
                        mean_std([r["f1"] for r in g]),
                        mean_std([r["fit_s"] for r in g], 1),
                    ]
                )
    table = measured_table(
        [
            "dataset",
            "labels",
            "labelled rows",
            "model",
            "ROC-AUC",
            "Δ AUC vs best baseline",
            "PR-AUC",
            "F1 (bad)",
            "fit time (s)",
        ],
        rows,
    )
    overrides = ", ".join(f"{k}={v}" for k, v in args.overrides.items()) or "none"
    mode = "quick (subsampled, tiny model; smoke test only)" if args.quick else "full"
    return (
        f"## Model quality{': ' + args.label if args.label else ''}\n\n"
        f"`python bench/model_quality.py{' --quick' if args.quick else ''}` — mode: {mode}. "
        f"{args.folds}-fold stratified CV (seed {args.seed}), identical folds for every model; "
        f"validation split {args.valid_fraction:.0%} of the labelled training rows "
        "(early stopping, model selection, F1 threshold). TabTransformer config: "
        f"`TrainingConfig.from_settings(get_settings())`, overrides: {overrides}. "
        "Mean ± std over folds; F1 of the `bad` class at the threshold tuned on validation; "
        "fit time per model and fold with 1 torch/LightGBM thread, "
        f"{args.workers} fits in parallel (machine shared with other work, so times are noisy). "
        f"Total wall time {elapsed / 60:.1f} min.\n\n" + table
    )


def parse_overrides(items: list[str]) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for item in items:
        key, _, value = item.partition("=")
        out[key.strip()] = json.loads(value)
    return out


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = bench_parser(__doc__, quick="tiny smoke run (~30 s)")
    parser.add_argument("--folds", type=int, default=5)
    parser.add_argument("--seed", type=int, default=0, help="seed of the outer folds")
    parser.add_argument("--workers", type=int, default=2, help="parallel worker processes")
    parser.add_argument("--datasets", nargs="+", default=list(DATASETS), choices=list(DATASETS))
    parser.add_argument("--regimes", nargs="+", default=list(REGIMES), choices=list(REGIMES))
    parser.add_argument("--models", nargs="+", default=list(MODELS), choices=list(MODELS))
    parser.add_argument(
        "--set",
        dest="overrides",
        action="append",
        default=[],
        metavar="FIELD=JSON",
        help="override a TrainingConfig field for the TabTransformers (e.g. use_cls=true)",
    )
    parser.add_argument("--label", default="", help="title suffix (for experiments)")
    parser.add_argument("--section", default="model_quality", help="docs section name")
    parser.add_argument("--output", type=Path, help="markdown file (default docs/benchmarks.md)")
    parser.add_argument("--json", type=Path, help="also write per-fold results here")
    args = parser.parse_args(argv)
    args.overrides = parse_overrides(args.overrides)
    if args.quick:
        from src.pipeline.benchmark import QUICK_TT

        args.folds = 2
        args.overrides = {**QUICK_TT, **args.overrides}
    return args


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    setup_logging()
    from config.settings import get_settings

    args.valid_fraction = get_settings().validation_fraction
    from src.models.baselines import LGBM_GRID
    from src.pipeline.benchmark import QUICK_ROWS

    max_rows = QUICK_ROWS if args.quick else None
    grid = LGBM_GRID[:1] if args.quick else LGBM_GRID
    tasks = [
        {
            "dataset": d,
            "regime": r,
            "model": m,
            "fold": f,
            "folds": args.folds,
            "seed": args.seed,
            "max_rows": max_rows,
            "overrides": args.overrides,
            "grid": grid,
        }
        for d in args.datasets
        for f in range(args.folds)
        for r in args.regimes
        for m in args.models
    ]
    # Slowest first, so the two workers finish together.
    tasks.sort(key=lambda t: (t["model"] != "TT+pretrain", t["model"] != "TT", t["regime"]))
    logger.info("%d fits on %d workers", len(tasks), args.workers)
    start = time.perf_counter()
    results: list[dict[str, Any]] = []
    with ProcessPoolExecutor(max_workers=args.workers) as pool:
        futures = [pool.submit(run_task, t) for t in tasks]
        for done, future in enumerate(as_completed(futures), 1):
            r = future.result()
            results.append(r)
            logger.info(
                "[%d/%d] %s %s %s fold %d: AUC %.3f F1 %.3f (%.1f s)%s",
                done,
                len(tasks),
                r["dataset"],
                r["regime"],
                r["model"],
                r["fold"],
                r["roc_auc"],
                r["f1"],
                r["fit_s"],
                _members_text(r["members"]),
            )
    elapsed = time.perf_counter() - start
    text = report(results, args, elapsed)
    if args.json:
        args.json.write_text(json.dumps(results, indent=1), encoding="utf-8")
    return publish(args.section, text, args.output)


if __name__ == "__main__":
    raise SystemExit(main())
