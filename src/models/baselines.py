"""The benchmark model: a regularised logistic regression on the same raw features.

SR 11-7 asks for a simple, well-understood benchmark beside every production model, so a
reviewer can see what the TabTransformer adds.  This module is the one definition of it:
the training pipeline's evaluate stage records it with every model, and
``loan-default benchmark`` / ``bench/model_quality.py`` report it as ``logreg``, so the
benchmark in the registry and the one in docs/benchmarks.md are the same model.
:func:`fit_lightgbm`, the comparison's second baseline, lives here beside it.

Pure: no database, no files, no settings.  The recipe is deliberately plain (and fixed):

* numerical columns: median imputation plus a missing-value flag per column (a missing
  income is information, not noise), then standardisation so one ``C`` suits every column;
* categorical columns: missing values become their own level, one-hot encoded; a level
  not seen in training encodes as all zeros rather than failing (new products, typos);
* ``C`` is picked from :data:`LOGREG_C_GRID` by ROC-AUC on the validation rows, the same
  role validation plays for the TabTransformer (early stopping, model selection).  Test
  rows are never seen.  ``lbfgs`` is deterministic, so a fit is reproducible without a seed.
"""

from __future__ import annotations

import warnings
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd
from sklearn.compose import ColumnTransformer
from sklearn.impute import SimpleImputer
from sklearn.linear_model import LogisticRegression
from sklearn.metrics import roc_auc_score
from sklearn.pipeline import Pipeline, make_pipeline
from sklearn.preprocessing import OneHotEncoder, StandardScaler

from src.data.feature_schema import FeatureSchema
from src.models.fitting import LabelledRows
from src.models.metrics import best_f1_threshold, classification_metrics

# Inverse regularisation strengths tried, strongest first; the first best on validation wins.
LOGREG_C_GRID: tuple[float, ...] = (0.01, 0.1, 1.0)
LOGREG_MAX_ITER = 2000
MISSING_LEVEL = "__missing__"
BENCHMARK_MODEL = "logistic_regression"


@dataclass(frozen=True)
class LogRegBaseline:
    """A fitted baseline: the sklearn pipeline, the chosen ``C`` and its validation ROC-AUC."""

    pipeline: Pipeline
    schema: FeatureSchema
    c: float
    valid_roc_auc: float

    def predict_proba(self, features: pd.DataFrame) -> np.ndarray:
        """Probability of the positive (default) class for each row, shape ``(n,)``."""
        prepared = prepare_features(features, schema=self.schema)
        return np.asarray(self.pipeline.predict_proba(prepared)[:, 1], dtype=float)


def prepare_features(features: pd.DataFrame, *, schema: FeatureSchema) -> pd.DataFrame:
    """Categoricals as strings with missing values as their own level (sklearn needs both)."""
    out = features.copy()
    for col in schema.categorical:
        out[col] = out[col].fillna(MISSING_LEVEL).astype(str)
    return out


def _pipeline(*, schema: FeatureSchema, c: float) -> Pipeline:
    columns = ColumnTransformer(
        [
            (
                "num",
                make_pipeline(
                    SimpleImputer(strategy="median", add_indicator=True), StandardScaler()
                ),
                list(schema.numerical),
            ),
            ("cat", OneHotEncoder(handle_unknown="ignore"), list(schema.categorical)),
        ]
    )
    return make_pipeline(columns, LogisticRegression(C=c, max_iter=LOGREG_MAX_ITER))


def fit_logreg_baseline(
    *,
    train: LabelledRows,
    valid: LabelledRows,
    c_grid: tuple[float, ...] = LOGREG_C_GRID,
) -> LogRegBaseline:
    """Fit one pipeline per ``C`` on ``train``; keep the best by validation ROC-AUC.

    Ties keep the earlier (more regularised) ``C``: the simpler model when the data cannot
    tell them apart.
    """
    if not c_grid:
        raise ValueError("c_grid must name at least one C")
    schema = train.schema
    fit_x = prepare_features(train.features, schema=schema)
    valid_x = prepare_features(valid.features, schema=schema)
    best: LogRegBaseline | None = None
    for c in c_grid:
        pipeline = _pipeline(schema=schema, c=c)
        pipeline.fit(fit_x, train.labels)
        auc = float(roc_auc_score(valid.labels, pipeline.predict_proba(valid_x)[:, 1]))
        if best is None or auc > best.valid_roc_auc:
            best = LogRegBaseline(pipeline=pipeline, schema=schema, c=c, valid_roc_auc=auc)
    assert best is not None
    return best


def benchmark_metrics(
    *, train: LabelledRows, valid: LabelledRows, test: LabelledRows
) -> dict[str, float]:
    """The benchmark's test metrics, comparable figure for figure with the model's.

    Fitted on ``train``; ``valid`` picks ``C`` and the F1-maximising threshold exactly as
    it picks the TabTransformer's (``best_f1_threshold``), so threshold metrics (F1,
    precision, recall, accuracy) compare like with like.  No calibration step: a logistic
    regression's probabilities are already calibrated by its loss.  Besides the metric
    names of ``classification_metrics`` the dict holds the chosen ``threshold`` and ``C``.
    """
    baseline = fit_logreg_baseline(train=train, valid=valid)
    threshold = best_f1_threshold(valid.labels, baseline.predict_proba(valid.features))
    metrics = classification_metrics(
        test.labels, baseline.predict_proba(test.features), threshold=threshold
    )
    return metrics | {"threshold": threshold, "C": baseline.c}


# LightGBM, the strong tabular baseline of the comparison (``loan-default benchmark``): a
# small grid over tree size and leaf support, each with early stopping on the validation rows.
LGBM_GRID: tuple[dict[str, int], ...] = tuple(
    {"num_leaves": leaves, "min_child_samples": child}
    for leaves in (7, 15, 31)
    for child in (20, 50)
)

# Fixed for every grid point: many slow trees (early stopping picks the count), row and column
# subsampling, one thread and a seed so a fit is reproducible.
LGBM_FIXED: dict[str, Any] = {
    "n_estimators": 2000,
    "learning_rate": 0.03,
    "subsample": 0.8,
    "subsample_freq": 1,
    "colsample_bytree": 0.8,
    "n_jobs": 1,
    "verbose": -1,
    "random_state": 0,
}


@dataclass(frozen=True)
class LightGBMBaseline:
    """A fitted LightGBM and the category levels it was fitted with (seen in training only)."""

    model: Any
    categories: dict[str, pd.CategoricalDtype]
    valid_roc_auc: float

    def predict_proba(self, features: pd.DataFrame) -> np.ndarray:
        """Probability of the positive class, shape ``(n,)``; unseen levels read as missing."""
        prepared = _as_categories(features, categories=self.categories)
        return np.asarray(self.model.predict_proba(prepared)[:, 1], dtype=float)


def _as_categories(
    features: pd.DataFrame, *, categories: dict[str, pd.CategoricalDtype]
) -> pd.DataFrame:
    out = features.copy()
    for col, dtype in categories.items():  # a level unseen in training reads as missing
        out[col] = out[col].where(out[col].isin(dtype.categories)).astype(dtype)
    return out


def fit_lightgbm(
    *,
    train: LabelledRows,
    valid: LabelledRows,
    grid: Sequence[dict[str, int]] = LGBM_GRID,
) -> LightGBMBaseline:
    """One early-stopped LightGBM per grid point on ``train``; the best validation ROC-AUC wins.

    Native categoricals (levels fixed from the training rows, so validation and test rows
    are encoded the same way), one thread and a fixed seed so a fit is reproducible.  Ties
    keep the earlier (smaller) grid point.
    """
    import lightgbm as lgb  # optional at import time: only the benchmark needs it

    if not grid:
        raise ValueError("grid must name at least one parameter set")
    categories = {
        col: pd.CategoricalDtype(sorted(train.features[col].dropna().unique()))
        for col in train.schema.categorical
    }
    fit_x = _as_categories(train.features, categories=categories)
    valid_x = _as_categories(valid.features, categories=categories)
    best: LightGBMBaseline | None = None
    for params in grid:
        model: Any = lgb.LGBMClassifier(**(LGBM_FIXED | dict(params)))
        with warnings.catch_warnings():  # lightgbm's eval_set deprecation notices
            warnings.filterwarnings("ignore", category=DeprecationWarning)
            warnings.filterwarnings("ignore", message=".*eval_set.*")
            model.fit(
                fit_x,
                train.labels,
                eval_set=[(valid_x, valid.labels)],
                eval_metric="auc",
                callbacks=[lgb.early_stopping(100, verbose=False)],
            )
        auc = float(roc_auc_score(valid.labels, model.predict_proba(valid_x)[:, 1]))
        if best is None or auc > best.valid_roc_auc:
            best = LightGBMBaseline(model=model, categories=categories, valid_roc_auc=auc)
    assert best is not None
    return best
