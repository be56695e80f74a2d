"""The logistic-regression benchmark on synthetic rows with a known signal."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from src.data.feature_schema import FeatureSchema
from src.models.baselines import (
    LOGREG_C_GRID,
    benchmark_metrics,
    fit_logreg_baseline,
)
from src.models.fitting import Rows
from src.models.metrics import METRIC_NAMES, best_f1_threshold, classification_metrics

SCHEMA = FeatureSchema(
    categorical=("grade", "purpose"),
    numerical=("income", "dti"),
    target="Class",
    positive_label="bad",
)
GRADE_RISK = {"A": -1.5, "B": -0.5, "C": 0.5, "D": 1.5}


def synthetic(n: int, *, seed: int, missing: float = 0.0) -> Rows:
    """Default risk rises with grade and debt-to-income, falls with income; purpose is noise."""
    rng = np.random.default_rng(seed)
    grade = rng.choice(list(GRADE_RISK), size=n)
    income = rng.normal(0.0, 1.0, n)
    dti = rng.normal(0.0, 1.0, n)
    logit = -1.0 + np.vectorize(GRADE_RISK.get)(grade) - 1.2 * income + 0.8 * dti
    labels = (rng.random(n) < 1.0 / (1.0 + np.exp(-logit))).astype(np.int64)
    features = pd.DataFrame(
        {
            "grade": grade.astype(object),
            "purpose": rng.choice(["car", "home", "debt"], size=n).astype(object),
            "income": income,
            "dti": dti,
        }
    )
    if missing:
        for col in ("income", "dti"):
            features.loc[rng.random(n) < missing, col] = np.nan
        features.loc[rng.random(n) < missing, "purpose"] = None
    return Rows(features=features, labels=labels, schema=SCHEMA)


def test_learns_the_synthetic_signal() -> None:
    train, valid, test = (synthetic(n, seed=s) for n, s in ((1500, 1), (400, 2), (1000, 3)))
    baseline = fit_logreg_baseline(train=train, valid=valid)
    metrics = classification_metrics(
        test.labels, baseline.predict_proba(test.features), threshold=0.5
    )
    # The true logit has AUC ~0.85 on these rows; a constant or a mixed-up sign is ~0.5 or less.
    assert metrics["roc_auc"] > 0.8
    assert baseline.c in LOGREG_C_GRID
    # Higher income lowers the predicted risk, as in the generating process.
    low, high = test.features.iloc[[0]].copy(), test.features.iloc[[0]].copy()
    low["income"], high["income"] = -2.0, 2.0
    assert baseline.predict_proba(low)[0] > baseline.predict_proba(high)[0]


def test_deterministic_for_a_seed() -> None:
    def run(seed: int) -> np.ndarray:
        fitted = fit_logreg_baseline(
            train=synthetic(600, seed=seed), valid=synthetic(200, seed=seed + 100)
        )
        return fitted.predict_proba(synthetic(300, seed=7).features)

    first, again, other = run(11), run(11), run(12)
    np.testing.assert_array_equal(first, again)
    assert not np.array_equal(first, other)


def test_handles_missing_numerics_and_unseen_categories() -> None:
    train = synthetic(800, seed=4, missing=0.2)
    baseline = fit_logreg_baseline(train=train, valid=synthetic(300, seed=5, missing=0.2))
    odd = pd.DataFrame(
        {
            "grade": ["Z", "A", None],  # a grade never seen in training, a known one, missing
            "purpose": ["boat", None, "car"],
            "income": [np.nan, np.nan, 0.5],
            "dti": [np.nan, 1.0, np.nan],
        }
    )
    proba = baseline.predict_proba(odd)
    assert proba.shape == (3,)
    assert np.all(np.isfinite(proba)) and np.all((proba > 0) & (proba < 1))
    # Missing values are imputed per column (plus a flag), so the rows still differ.
    assert len(set(proba.round(12))) == 3


def test_c_is_the_best_of_the_grid_on_validation() -> None:
    train, valid = synthetic(400, seed=8), synthetic(200, seed=9)
    chosen = fit_logreg_baseline(train=train, valid=valid)
    each = {c: fit_logreg_baseline(train=train, valid=valid, c_grid=(c,)) for c in LOGREG_C_GRID}
    assert chosen.valid_roc_auc == max(f.valid_roc_auc for f in each.values())
    assert chosen.valid_roc_auc == each[chosen.c].valid_roc_auc
    with pytest.raises(ValueError, match="c_grid"):
        fit_logreg_baseline(train=train, valid=valid, c_grid=())


def test_benchmark_metrics_use_the_validation_threshold_and_the_test_rows() -> None:
    train, valid, test = synthetic(800, seed=21), synthetic(300, seed=22), synthetic(500, seed=23)
    found = benchmark_metrics(train=train, valid=valid, test=test)
    assert set(METRIC_NAMES) | {"threshold", "C"} == set(found)
    fitted = fit_logreg_baseline(train=train, valid=valid)
    threshold = best_f1_threshold(valid.labels, fitted.predict_proba(valid.features))
    expected = classification_metrics(
        test.labels, fitted.predict_proba(test.features), threshold=threshold
    )
    assert found["threshold"] == threshold and found["C"] == fitted.c
    assert {k: found[k] for k in METRIC_NAMES} == expected
