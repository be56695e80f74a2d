"""The model comparison: production TabTransformer (with and without pretraining) vs baselines.

One protocol for ``loan-default benchmark`` and ``bench/model_quality.py`` (docs/benchmarks.md):
stratified K-fold outer splits with one seed, planned once so every model sees the very same
rows; inside each training part a stratified validation split (``validation_fraction``)
serves early stopping, model selection and the F1-maximising threshold, as in production; the
test fold is touched only for the final metrics.  Regimes: ``all`` (every training row
labelled) and ``10pct`` (a stratified 10% labelled; the pretrained TabTransformer pretrains on
all training rows' features, the other models see only the labelled 10%).

The TabTransformers are trained by ``src.models.fitting.fit_bundle``, the production recipe,
so the comparison cannot drift from what the pipeline trains.  Pure: no files, no database.
"""

from __future__ import annotations

import dataclasses
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
from sklearn.model_selection import StratifiedKFold, train_test_split

from src.models.baselines import LGBM_GRID, fit_lightgbm, fit_logreg_baseline
from src.models.ensemble import members_of
from src.models.fitting import Rows, fit_bundle
from src.models.metrics import (
    best_f1_threshold,
    classification_metrics,
    expected_calibration_error,
)
from src.models.training import predict_proba
from src.models.training_config import TrainingConfig
from src.pipeline.benchmark_data import LABELLED_FRACTION, BenchmarkData

MODELS = ("tabtransformer", "tabtransformer_no_pretrain", "logreg", "lightgbm")
REGIMES = tuple(LABELLED_FRACTION)
# ``--quick``: a tiny TabTransformer and one LightGBM grid point, for smoke runs only.
QUICK_TT: dict[str, Any] = {
    "num_layers": 1,
    "pretrain_epochs": 1,
    "finetune_epochs": 2,
    "patience": 1,
}
QUICK_ROWS = 1500


@dataclass(frozen=True)
class FoldPlan:
    """Row indices of one (regime, fold): labelled-train, validation, pretraining pool, test."""

    regime: str
    fold: int
    fit: np.ndarray
    valid: np.ndarray
    pool: np.ndarray
    test: np.ndarray


@dataclass(frozen=True)
class FitResult:
    """Test metrics of one model on one planned fold; ``plan`` is the shared plan object."""

    model: str
    plan: FoldPlan
    roc_auc: float
    pr_auc: float
    f1: float
    fit_seconds: float
    # The served probabilities of the test fold (the TabTransformers' calibrated PDs, the
    # baselines' own probabilities), for calibration figures: ECE, Brier, mean PD vs base rate.
    test_pd: np.ndarray = dataclasses.field(default_factory=lambda: np.zeros(0), repr=False)

    def calibration(self, labels: np.ndarray) -> dict[str, float]:
        """ECE (10 equal-mass bins), Brier, mean PD and base rate of the test fold's PDs.

        ``labels`` are the dataset's labels (the plan holds indices, not labels).
        """
        y = labels[self.plan.test]
        return {
            "ece": expected_calibration_error(y, self.test_pd),
            "brier": float(np.mean((self.test_pd - y) ** 2)),
            "mean_pd": float(self.test_pd.mean()),
            "base_rate": float(y.mean()),
        }

    # A seed ensemble's members, each scored alone like the model (its own validation-tuned
    # threshold): member 0 is the single model the same seed trains, a paired reference.
    members: tuple[dict[str, float], ...] = ()

    @property
    def n_labelled(self) -> int:
        return int(len(self.plan.fit) + len(self.plan.valid))


def plan_folds(
    labels: np.ndarray,
    *,
    folds: int,
    regimes: Sequence[str],
    seed: int,
    valid_fraction: float,
) -> list[FoldPlan]:
    """Every (regime, fold) split, computed once; a model never draws its own rows."""
    skf = StratifiedKFold(n_splits=folds, shuffle=True, random_state=seed)
    plans = []
    for fold, (train_idx, test_idx) in enumerate(skf.split(np.zeros(len(labels)), labels)):
        for regime in regimes:
            labelled = train_idx
            if LABELLED_FRACTION[regime] < 1.0:
                labelled, _ = train_test_split(
                    train_idx,
                    train_size=LABELLED_FRACTION[regime],
                    random_state=seed,
                    stratify=labels[train_idx],
                )
            fit_idx, valid_idx = train_test_split(
                labelled, test_size=valid_fraction, random_state=seed, stratify=labels[labelled]
            )
            # Like pretrain_stage, pretrain on the training rows; with few labels, on all.
            pool = fit_idx if regime == "all" else train_idx
            plans.append(
                FoldPlan(
                    regime=regime,
                    fold=fold,
                    fit=np.sort(fit_idx),
                    valid=np.sort(valid_idx),
                    pool=np.sort(pool),
                    test=np.sort(test_idx),
                )
            )
    return plans


def _rows(data: BenchmarkData, idx: np.ndarray) -> Rows:
    features = data.features.iloc[idx].reset_index(drop=True)
    return Rows(features=features, labels=data.labels[idx], schema=data.schema)


# (validation, test) positive-class probabilities
Scores = tuple[np.ndarray, np.ndarray]


def _tabtransformer(
    data: BenchmarkData, plan: FoldPlan, config: TrainingConfig, *, pretrain: bool
) -> tuple[Scores, np.ndarray, list[Scores]]:
    """The model's scores, its calibrated test PDs (the served probabilities) and, for a seed
    ensemble, each member's scores (else an empty list)."""
    fit, valid, test = _rows(data, plan.fit), _rows(data, plan.valid), _rows(data, plan.test)
    if not pretrain:
        config = dataclasses.replace(config, pretrain_epochs=0)
    # Preprocessing is fitted on the rows pretrained on: with few labels, all training rows.
    pool = _rows(data, plan.pool).features if pretrain else None
    bundle = fit_bundle(fit, valid, config, progress=False, pretrain_features=pool)
    pre = bundle.preprocessor
    x_valid, x_test = pre.transform(valid.features), pre.transform(test.features)
    members = members_of(bundle.model)
    per_member = [
        (predict_proba(m, *x_valid), predict_proba(m, *x_test)) for m in members if len(members) > 1
    ]
    test_raw = predict_proba(bundle.model, *x_test)
    scores = (predict_proba(bundle.model, *x_valid), test_raw)
    return scores, bundle.calibrator.apply(test_raw), per_member


def _score(labels: np.ndarray, plan: FoldPlan, scores: Scores) -> dict[str, float]:
    """Test metrics at the threshold that maximises F1 on validation."""
    threshold = best_f1_threshold(labels[plan.valid], scores[0])
    metrics = classification_metrics(labels[plan.test], scores[1], threshold=threshold)
    return {k: float(metrics[k]) for k in ("roc_auc", "pr_auc", "f1_score")}


def fit_and_score(
    data: BenchmarkData,
    *,
    plan: FoldPlan,
    model: str,
    config: TrainingConfig,
    lgbm_grid: Sequence[dict[str, int]] = LGBM_GRID,
) -> FitResult:
    """Fit ``model`` on ``plan``'s rows; its test metrics at the validation-tuned threshold."""
    start = time.perf_counter()
    member_scores: list[Scores] = []
    if model in ("tabtransformer", "tabtransformer_no_pretrain"):
        (valid_p, test_p), test_pd, member_scores = _tabtransformer(
            data, plan, config, pretrain=model == "tabtransformer"
        )
    else:
        fit, valid = _rows(data, plan.fit), _rows(data, plan.valid)
        test = _rows(data, plan.test).features
        if model == "logreg":
            fitted: Any = fit_logreg_baseline(train=fit, valid=valid)
        elif model == "lightgbm":
            fitted = fit_lightgbm(train=fit, valid=valid, grid=lgbm_grid)
        else:
            raise ValueError(f"unknown model {model!r}; choose from {MODELS}")
        valid_p, test_p = fitted.predict_proba(valid.features), fitted.predict_proba(test)
        test_pd = test_p
    seconds = time.perf_counter() - start
    metrics = _score(data.labels, plan, (valid_p, test_p))
    return FitResult(
        model=model,
        plan=plan,
        roc_auc=metrics["roc_auc"],
        pr_auc=metrics["pr_auc"],
        f1=metrics["f1_score"],
        fit_seconds=seconds,
        test_pd=np.asarray(test_pd, dtype=float),
        members=tuple(_score(data.labels, plan, s) for s in member_scores),
    )


def run_benchmark(
    data: BenchmarkData,
    *,
    plans: Sequence[FoldPlan],
    models: Sequence[str] = MODELS,
    config: TrainingConfig,
    lgbm_grid: Sequence[dict[str, int]] = LGBM_GRID,
    on_result: Callable[[FitResult], None] | None = None,
) -> list[FitResult]:
    """Every model on every plan, in one process; ``on_result`` reports progress."""
    results = []
    for plan in plans:
        for model in models:
            result = fit_and_score(data, plan=plan, model=model, config=config, lgbm_grid=lgbm_grid)
            results.append(result)
            if on_result is not None:
                on_result(result)
    return results


METRICS = ("roc_auc", "pr_auc", "f1", "fit_seconds")


def _mean_std(values: Sequence[float]) -> dict[str, float]:
    """Mean and sample std (0 for a single value), as the bench tables show them."""
    arr = np.asarray(values, dtype=float)
    std = float(arr.std(ddof=1)) if len(arr) > 1 else 0.0
    return {"mean": float(arr.mean()), "std": std}


def summarise(results: Sequence[FitResult], *, rows: int, folds: int) -> dict[str, Any]:
    """Per model and regime, mean and std over folds of each metric (the ``--json`` layout)."""
    grouped: dict[str, dict[str, list[FitResult]]] = {}
    for r in results:
        grouped.setdefault(r.model, {}).setdefault(r.plan.regime, []).append(r)
    models: Mapping[str, Any] = {
        model: {
            regime: {m: _mean_std([getattr(r, m) for r in group]) for m in METRICS}
            | {"labelled_rows": group[0].n_labelled}
            for regime, group in by_regime.items()
        }
        for model, by_regime in grouped.items()
    }
    return {"folds": folds, "rows": rows, "models": dict(models)}


def benchmark_config(*, quick: bool, overrides: Mapping[str, Any] | None = None) -> TrainingConfig:
    """The production ``TrainingConfig`` (settings), with ``QUICK_TT`` and ``overrides`` on top."""
    from config.settings import get_settings

    changes = {**(QUICK_TT if quick else {}), **(overrides or {})}
    return dataclasses.replace(TrainingConfig.from_settings(get_settings()), **changes)
