"""bench/calibration_folds.py: per-fold and pooled test ECE beside its noise floor."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from src.models.metrics import expected_calibration_error

REPO_ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(REPO_ROOT / "bench"))

from calibration_folds import summarise  # noqa: E402


def _fits(shift: float, folds: int = 3, n: int = 400) -> list[dict]:
    """Folds whose PDs are ``shift`` above the true default probability (0 = calibrated)."""
    out = []
    for fold in range(folds):
        rng = np.random.default_rng(fold)
        truth = rng.uniform(0.05, 0.5, n)
        y = (rng.random(n) < truth).astype(int)
        pd_ = np.clip(truth + shift, 0, 1)
        out.append(
            {
                "dataset": "credit_data",
                "regime": "all",
                "model": "TT+pretrain",
                "fold": fold,
                "roc_auc": 0.8,
                "f1": 0.6,
                "ece": expected_calibration_error(y, pd_),
                "brier": float(np.mean((pd_ - y) ** 2)),
                "mean_pd": float(pd_.mean()),
                "base_rate": float(y.mean()),
                "test_pd": pd_.tolist(),
                "test_y": y.tolist(),
            }
        )
    return out


def test_pooled_ece_and_floors() -> None:
    calibrated = _fits(0.0)
    s = summarise(calibrated)[("credit_data", "all", "TT+pretrain")]
    y = np.concatenate([r["test_y"] for r in calibrated])
    p = np.concatenate([r["test_pd"] for r in calibrated])
    assert s["rows"] == 1200 and s["fold_rows"] == 400
    assert s["ece_pooled"] == pytest.approx(expected_calibration_error(y, p))
    # The floor shrinks with the sample: three folds pooled sit lower than one fold.
    assert 0 < s["ece_pooled_floor"] < s["ece_fold_floor"] < 0.1
    biased = summarise(_fits(0.1))[("credit_data", "all", "TT+pretrain")]
    assert biased["ece_pooled"] > 0.08 > 2 * biased["ece_pooled_floor"]


def test_cli_pairs_ece_per_fold_against_the_first_run(tmp_path: Path) -> None:
    (tmp_path / "a.json").write_text(json.dumps(_fits(0.1)))
    (tmp_path / "b.json").write_text(json.dumps(_fits(0.0)))
    result = subprocess.run(
        [
            sys.executable,
            "bench/calibration_folds.py",
            str(tmp_path / "a.json"),
            str(tmp_path / "b.json"),
            "--labels",
            "base",
            "new",
        ],
        cwd=REPO_ROOT,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert result.returncode == 0, result.stderr
    rows = [
        line
        for line in result.stdout.splitlines()
        if line.startswith("| base") or line.startswith("| new")
    ]
    assert len(rows) == 2 and "| — |" in rows[0]
    assert "(3 / 3 lower)" in rows[1]  # the calibrated run is better in every fold
