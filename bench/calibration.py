"""Calibration: the production TabTransformer's test-split ECE, Brier and ROC-AUC, before and
after its calibrator, on both bundled datasets.

Same data, splits and recipe as ``bench/model_quality.py`` (``fit_bundle`` with the settings'
defaults, validation split for early stopping, calibration and the threshold); "before" is the
network's raw (class-weighted) score, "after" the calibrated PD that is served.  ECE uses 10
equal-mass bins.

    python bench/calibration.py                     # 3 folds per dataset, writes docs/benchmarks.md
    python bench/calibration.py --quick --output /tmp/c.md
"""

from __future__ import annotations

import argparse
import dataclasses
import logging
import os
import time
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path
from typing import Any

os.environ.setdefault("OMP_NUM_THREADS", "1")  # one thread per worker process, set before numpy

import numpy as np
from _common import bench_parser, machine_line, markdown_table, mean_std, publish, setup_logging
from model_quality import DATASETS, load_dataset

from src.models.metrics import expected_calibration_error
from src.pipeline.benchmark import QUICK_TT, plan_folds

logger = logging.getLogger("bench.calibration")


def run_fold(task: dict[str, Any]) -> dict[str, Any]:
    import torch

    from config.settings import get_settings
    from src.models.fitting import Rows, fit_bundle
    from src.models.metrics import classification_metrics
    from src.models.training import predict_proba
    from src.models.training_config import TrainingConfig

    torch.set_num_threads(1)
    setup_logging("WARNING")
    data = load_dataset(task["dataset"], task["max_rows"])
    features, labels, schema = data.features, data.labels, data.schema
    plan = plan_folds(
        labels,
        folds=task["folds"],
        regimes=["all"],
        seed=task["seed"],
        valid_fraction=get_settings().validation_fraction,
    )[task["fold"]]
    fit_idx, valid_idx, test_idx = plan.fit, plan.valid, plan.test
    frame = {
        k: features.iloc[v].reset_index(drop=True)
        for k, v in {"fit": fit_idx, "valid": valid_idx, "test": test_idx}.items()
    }
    config = TrainingConfig.from_settings(get_settings())
    config = dataclasses.replace(config, torch_num_threads=1, **task["overrides"])
    start = time.perf_counter()
    bundle = fit_bundle(
        Rows(frame["fit"], labels[fit_idx], schema),
        Rows(frame["valid"], labels[valid_idx], schema),
        config,
        progress=False,
    )
    raw = predict_proba(bundle.model, *bundle.preprocessor.transform(frame["test"]))
    y = labels[test_idx]
    before = classification_metrics(y, raw, threshold=0.5)
    after = classification_metrics(y, bundle.calibrator.apply(raw), threshold=bundle.threshold)
    return {
        "dataset": task["dataset"],
        "fold": task["fold"],
        "method": bundle.calibrator.method,
        "n_test": len(y),
        "base_rate": float(y.mean()),
        "before": before,
        "after": after,
        "mean_pd": float(bundle.calibrator.apply(raw).mean()),
        "mean_raw": float(raw.mean()),
        "threshold": bundle.threshold,
        "seconds": time.perf_counter() - start,
        "labels": y,
        "raw": raw,
        "pd": bundle.calibrator.apply(raw),
    }


def noise_floor(pd_: np.ndarray, draws: int = 200) -> float:
    """Mean ECE of a *perfectly* calibrated model with these PDs: outcomes drawn from them.

    ECE over a finite sample is never 0: with ~150 rows per bin at a 28 % default rate, each
    bin's default rate alone wanders by ±0.037.  A figure near this floor is as calibrated
    as the test sample can show.
    """
    rng = np.random.default_rng(0)
    return float(
        np.mean([expected_calibration_error(rng.random(len(pd_)) < pd_, pd_) for _ in range(draws)])
    )


def report(results: list[dict[str, Any]], args: argparse.Namespace, elapsed: float) -> str:
    rows: list[list[str]] = []
    pooled: list[list[str]] = []
    for dataset in args.datasets:
        group = sorted((r for r in results if r["dataset"] == dataset), key=lambda r: r["fold"])
        methods = ", ".join(
            f"{m} x{sum(r['method'] == m for r in group)}"
            for m in sorted({r["method"] for r in group})
        )
        y = np.concatenate([r["labels"] for r in group])
        raw, pd_ = (np.concatenate([r[k] for r in group]) for k in ("raw", "pd"))
        pooled.append(
            [
                dataset,
                f"{len(y):,}",
                f"{expected_calibration_error(y, raw):.3f}",
                f"{expected_calibration_error(y, pd_):.3f}",
                f"{noise_floor(pd_):.3f}",
            ]
        )
        rows.append(
            [
                dataset,
                f"{group[0]['n_test']:,}",
                f"{np.mean([r['base_rate'] for r in group]):.3f}",
                methods,
                mean_std([r["mean_raw"] for r in group])
                + " → "
                + mean_std([r["mean_pd"] for r in group]),
                mean_std([r["before"]["ece"] for r in group])
                + " → "
                + mean_std([r["after"]["ece"] for r in group]),
                mean_std([r["before"]["brier_score"] for r in group])
                + " → "
                + mean_std([r["after"]["brier_score"] for r in group]),
                mean_std([r["before"]["roc_auc"] for r in group])
                + " → "
                + mean_std([r["after"]["roc_auc"] for r in group]),
                mean_std([r["threshold"] for r in group]),
            ]
        )
    table = markdown_table(
        [
            "dataset",
            "test rows",
            "default rate",
            "method chosen",
            "mean score → mean PD",
            "ECE before → after",
            "Brier before → after",
            "ROC-AUC before → after",
            "threshold (on PD)",
        ],
        rows,
    )
    return (
        "## Calibration\n\n"
        f"`python bench/calibration.py{' --quick' if args.quick else ''}`: "
        f"{args.folds} stratified folds per dataset, production defaults "
        f"({'quick model' if args.quick else 'TrainingConfig from Settings'}); ECE over 10 "
        "equal-mass bins on the test fold; mean ± std over folds.\n\n"
        f"{table}\n\nPooled over the folds' out-of-fold test predictions (every row scored "
        "once, by the model that did not train on it), beside the ECE a perfectly calibrated "
        "model would show at this sample size (outcomes drawn from its own PDs, 200 draws):\n\n"
        + markdown_table(
            ["dataset", "rows", "ECE before", "ECE after", "ECE of a perfectly calibrated model"],
            pooled,
        )
        + f"\n\n{machine_line()}; {elapsed:.0f} s wall, {args.workers} worker process(es).\n"
    )


def main() -> int:
    parser = bench_parser(__doc__, quick="tiny model, 2 folds, 2,000 rows")
    parser.add_argument("--folds", type=int, default=3)
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--datasets", nargs="+", default=list(DATASETS))
    parser.add_argument("--output", type=Path, default=None)
    args = parser.parse_args()
    setup_logging()
    if args.quick:
        args.folds = 2
    max_rows = 2000 if args.quick else None
    overrides = QUICK_TT if args.quick else {}
    tasks = [
        {
            "dataset": d,
            "fold": f,
            "folds": args.folds,
            "seed": 0,
            "max_rows": max_rows,
            "overrides": overrides,
        }
        for d in args.datasets
        for f in range(args.folds)
    ]
    start = time.perf_counter()
    with ProcessPoolExecutor(max_workers=args.workers) as pool:
        results = list(pool.map(run_fold, tasks))
    for r in results:
        logger.info(
            "%s fold %d: %s, ECE %.4f -> %.4f",
            r["dataset"],
            r["fold"],
            r["method"],
            r["before"]["ece"],
            r["after"]["ece"],
        )
    return publish("calibration", report(results, args, time.perf_counter() - start), args.output)


if __name__ == "__main__":
    raise SystemExit(main())
