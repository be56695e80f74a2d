"""bench/paired_delta.py: paired per-fold AUC deltas between two model_quality --json runs."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parents[2]


def _run(
    tmp_path: Path, base: list[dict], new: list[dict], *extra: str
) -> subprocess.CompletedProcess[str]:
    (tmp_path / "a.json").write_text(json.dumps(base))
    (tmp_path / "b.json").write_text(json.dumps(new))
    return subprocess.run(
        [
            sys.executable,
            "bench/paired_delta.py",
            str(tmp_path / "a.json"),
            str(tmp_path / "b.json"),
            *extra,
        ],
        cwd=REPO_ROOT,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )


def _fits(model: str, aucs: list[float]) -> list[dict]:
    return [
        {"dataset": "credit_data", "regime": "all", "model": model, "fold": f, "roc_auc": a}
        for f, a in enumerate(aucs)
    ]


def test_deltas_are_paired_by_fold(tmp_path: Path) -> None:
    base = _fits("TT", [0.70, 0.80, 0.75]) + _fits("LogReg", [0.7, 0.7, 0.7])
    # Fold 2 exists only in the base run: it is not paired.
    new = _fits("TT", [0.72, 0.79])
    result = _run(tmp_path, base, new, "--label", "ple")
    assert result.returncode == 0, result.stderr
    rows = [line for line in result.stdout.splitlines() if line.startswith("| ple")]
    # deltas +0.02 and -0.01: mean +0.005, sample std 0.0212, one fold of two better
    assert rows == ["| ple | credit_data | all | TT | 0.750 | 0.755 | +0.005 ± 0.021 | 1 / 2 |"]


def test_nothing_in_common_is_an_error(tmp_path: Path) -> None:
    result = _run(tmp_path, _fits("TT", [0.7]), _fits("TT", [0.8]), "--models", "LogReg")
    assert result.returncode == 1 and "no (dataset" in result.stderr


def test_member_zero_of_an_ensemble_run_is_the_base(tmp_path: Path) -> None:
    """``--member 0``: the ensemble run's own member 0 (the single model) is the base."""
    new = _fits("TT+pretrain", [0.80, 0.70])
    for fit, (member_auc, member_f1) in zip(new, [(0.78, 0.5), (0.71, 0.4)], strict=True):
        fit["f1"] = 0.45
        fit["members"] = [{"roc_auc": member_auc, "pr_auc": 0.5, "f1_score": member_f1}] * 3
    result = _run(tmp_path, [], new, "--member", "0", "--label", "K=3")
    assert result.returncode == 0, result.stderr
    rows = [line for line in result.stdout.splitlines() if line.startswith("| K=3")]
    # deltas +0.02 and -0.01
    assert rows == [
        "| K=3 | credit_data | all | TT+pretrain | 0.745 | 0.750 | +0.005 ± 0.021 | 1 / 2 |"
    ]
    f1 = _run(tmp_path, [], new, "--member", "0", "--metric", "f1", "--label", "K=3")
    # F1 deltas -0.05 and +0.05
    assert "| 0.450 | 0.450 | +0.000 ± 0.071 | 1 / 2 |" in f1.stdout
