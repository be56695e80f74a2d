"""The REQUIRE_BEAT_BENCHMARK rule's verdict and reason (the gate applies it; see
tests/integration/pipeline/test_benchmark.py for the gate on real models)."""

from __future__ import annotations

import math

import pytest

from src.pipeline.training_runs import benchmark_of, benchmark_verdict


def test_a_model_above_its_benchmark_passes_and_the_reason_quotes_both() -> None:
    passes, reason = benchmark_verdict(roc_auc=0.7312, benchmark={"roc_auc": 0.7005})
    assert passes
    assert reason.startswith("beat its benchmark") and "0.7312" in reason and "0.7005" in reason


@pytest.mark.parametrize("auc", [0.69, 0.7005, math.nan])
def test_a_model_at_or_below_its_benchmark_is_refused(auc: float) -> None:
    passes, reason = benchmark_verdict(roc_auc=auc, benchmark={"roc_auc": 0.7005, "C": 0.1})
    assert not passes
    assert reason.startswith("did not beat its benchmark (REQUIRE_BEAT_BENCHMARK)")
    assert "0.7005" in reason


@pytest.mark.parametrize("benchmark", [None, {}])
def test_a_model_registered_before_benchmarks_is_not_blocked(benchmark: dict | None) -> None:
    passes, reason = benchmark_verdict(roc_auc=0.51, benchmark=benchmark)
    assert passes
    assert "no benchmark recorded" in reason and "registered before" in reason


def test_the_benchmark_is_read_back_from_a_runs_metrics() -> None:
    stored = {
        "roc_auc": 0.61,
        "uncalibrated_roc_auc": 0.6,
        "benchmark_roc_auc": 0.7,
        "benchmark_C": 1,
    }
    assert benchmark_of(stored) == {"roc_auc": 0.7, "C": 1.0}
    # A run evaluated before benchmarks were recorded: registered without one, not refitted.
    assert benchmark_of({"roc_auc": 0.61, "uncalibrated_roc_auc": 0.6}) is None
