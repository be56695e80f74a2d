"""Smoke runs of the ``bench/`` scripts' ``--quick`` modes (a few minutes together).

They only check that each benchmark runs, exits 0 and prints a markdown table with numbers;
the figures themselves are benchmarks, not assertions.  ``--output`` sends the markdown to a
temporary file so the quick runs never overwrite docs/benchmarks.md.
"""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

REPO_ROOT = Path(__file__).resolve().parents[2]
DOC = REPO_ROOT / "docs" / "benchmarks.md"
NUMBER = re.compile(r"\|\s*[-+]?\d[\d,]*(\.\d+)?")


def run_quick(script: str, tmp_path: Path, *extra: str) -> str:
    output = tmp_path / "benchmarks.md"
    before = DOC.read_bytes() if DOC.exists() else None
    env = {**os.environ, "TORCH_NUM_THREADS": "1", "LOG_LEVEL": "WARNING"}
    result = subprocess.run(
        [sys.executable, f"bench/{script}", "--quick", "--output", str(output), *extra],
        cwd=REPO_ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=600,
        check=False,
    )
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-3000:]
    assert NUMBER.search(result.stdout), result.stdout
    written = output.read_text(encoding="utf-8")
    assert "<!-- BEGIN" in written and NUMBER.search(written)
    assert (DOC.read_bytes() if DOC.exists() else None) == before, "quick run touched docs"
    return result.stdout


@pytest.mark.slow
def test_model_quality_quick(tmp_path: Path) -> None:
    out = run_quick("model_quality.py", tmp_path)
    for name in ("lending_club", "credit_data", "TT+pretrain", "LogReg", "LightGBM", "10%"):
        assert name in out


@pytest.mark.integration
@pytest.mark.slow
def test_pipeline_quick(tmp_path: Path) -> None:
    out = run_quick("pipeline.py", tmp_path)
    for stage in ("collect", "pretrain", "finetune", "evaluate+register", "validate+deploy"):
        assert f"| {stage} |" in out


@pytest.mark.integration
def test_ingest_quick(tmp_path: Path) -> None:
    out = run_quick("ingest.py", tmp_path)
    assert "| 10,000 |" in out


@pytest.mark.integration
@pytest.mark.slow
def test_hot_swap_quick(tmp_path: Path) -> None:
    out = run_quick("hot_swap.py", tmp_path)
    assert "activation -> first answer" in out


@pytest.mark.integration
@pytest.mark.slow
def test_shadow_quick(tmp_path: Path) -> None:
    out = run_quick("shadow.py", tmp_path)
    assert "| SHADOW_MODE=off |" in out and "| SHADOW_MODE=on |" in out
    shadow_row = next(line for line in out.splitlines() if line.startswith("| SHADOW_MODE=on"))
    assert int(shadow_row.split("|")[5]) > 0  # the shadow really scored


@pytest.mark.integration
@pytest.mark.slow
def test_monitoring_quick(tmp_path: Path) -> None:
    out = run_quick("monitoring.py", tmp_path)
    assert "Drift over 1M logged predictions" in out and "measure_drift" in out


@pytest.mark.slow
def test_calibration_quick(tmp_path: Path) -> None:
    out = run_quick("calibration.py", tmp_path)
    for name in ("lending_club", "credit_data", "ECE before", "perfectly calibrated"):
        assert name in out


@pytest.mark.slow
def test_batch_scoring_quick(tmp_path: Path) -> None:
    # Includes the batch_scoring DAG on a real Celery stack (Redis broker), 1 then 2 workers.
    out = run_quick("batch_scoring.py", tmp_path)
    assert "rows/s" in out and "20,000" in out
    assert re.search(r"\|\s*2\s*\|\s*2\s*\|.*x\s*\|", out), out  # 2 workers, 2 ranges


@pytest.mark.integration
@pytest.mark.slow
def test_unlabelled_pool_quick(tmp_path: Path) -> None:
    # Hand-maintained figures (docs/benchmarks.md, "what we tried"): JSON only, no section.
    import json

    out = tmp_path / "pool.json"
    result = subprocess.run(
        [sys.executable, "bench/unlabelled_pool.py", "--quick", "--json", str(out)],
        cwd=REPO_ROOT,
        env={**os.environ, "TORCH_NUM_THREADS": "1", "LOG_LEVEL": "WARNING"},
        capture_output=True,
        text=True,
        timeout=600,
        check=False,
    )
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-3000:]
    figures = json.loads(out.read_text(encoding="utf-8"))
    pooled, plain = figures["with_pool"], figures["without_pool"]
    assert pooled["pretrain_unlabelled_rows"] == figures["collected"]["unlabelled"] > 0
    assert plain["pretrain_unlabelled_rows"] == 0
    for key in ("n_train", "n_valid", "n_test", "n_test_positive"):  # same labelled rows
        assert pooled[key] == plain[key]
    assert 0.0 <= pooled["roc_auc"] <= 1.0 and 0.0 <= plain["roc_auc"] <= 1.0


@pytest.mark.slow
def test_ensemble_latency_small() -> None:
    # Hand-run figures (docs/benchmarks.md, "Seed ensembles"): no --quick/--output, so a
    # small run that checks the script still works against the serving code it imports.
    result = subprocess.run(
        [
            sys.executable,
            "bench/ensemble_latency.py",
            "--single",
            "20",
            "--batches",
            "1",
            "--epochs",
            "1",
        ],
        cwd=REPO_ROOT,
        env={**os.environ, "TORCH_NUM_THREADS": "1", "LOG_LEVEL": "WARNING"},
        capture_output=True,
        text=True,
        timeout=600,
        check=False,
    )
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-3000:]
    assert re.search(r"\|\s*single row, records path\s*\|\s*K=3\s*\|\s*20\s*\|", result.stdout)
