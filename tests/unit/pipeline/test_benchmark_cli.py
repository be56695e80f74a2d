"""``loan-default benchmark`` through ``src.cli.main`` on a CSV of real credit_data rows."""

from __future__ import annotations

import json
from pathlib import Path

import pandas as pd
import pytest

from src.cli import main
from src.pipeline.benchmark import MODELS
from tests.unit.pipeline.test_model_comparison import credit_rows

pytestmark = pytest.mark.slow


@pytest.fixture
def csv(tmp_path: Path) -> Path:
    path = tmp_path / "portfolio.csv"
    credit_rows(400).to_csv(path, index=False)
    return path


def bench(*args: str) -> int:
    return main(["benchmark", "--quick", "--no-progress", "--folds", "2", *args])


def test_benchmark_json_has_every_model_and_regime(
    csv: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    out = tmp_path / "result.json"
    rc = bench("--source", str(csv), "--target", "Status", "--positive", "bad", "--json", str(out))
    assert rc == 0, capsys.readouterr().err
    result = json.loads(out.read_text())
    assert result["folds"] == 2 and result["rows"] == 400
    assert (
        set(result["models"])
        == {
            "tabtransformer",
            "tabtransformer_no_pretrain",
            "logreg",
            "lightgbm",
        }
        == set(MODELS)
    )
    for by_regime in result["models"].values():
        assert set(by_regime) == {"all", "10pct"}
        for cell in by_regime.values():
            for metric in ("roc_auc", "pr_auc", "f1", "fit_seconds"):
                assert set(cell[metric]) == {"mean", "std"}
                assert cell[metric]["mean"] >= 0.0 and cell[metric]["std"] >= 0.0
    printed = capsys.readouterr().out
    assert "tabtransformer_no_pretrain" in printed and "ROC-AUC" in printed and "10pct" in printed


def _error(capsys: pytest.CaptureFixture[str], *args: str) -> str:
    assert bench(*args) == 2
    return capsys.readouterr().err


def test_missing_target_column(csv: Path, capsys: pytest.CaptureFixture[str]) -> None:
    err = _error(capsys, "--source", str(csv), "--target", "Defaulted", "--positive", "bad")
    assert "target column 'Defaulted' not found" in err


def test_positive_value_that_does_not_occur(csv: Path, capsys: pytest.CaptureFixture[str]) -> None:
    err = _error(capsys, "--source", str(csv), "--target", "Status", "--positive", "yes")
    assert "positive label 'yes' not found in target 'Status'" in err


def test_too_few_positives_says_how_many(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    rows = credit_rows(2000)
    good, bad = rows[rows["Status"] == "good"].head(300), rows[rows["Status"] == "bad"].head(20)
    rows = pd.concat([good, bad], ignore_index=True)
    path = tmp_path / "few.csv"
    rows.to_csv(path, index=False)
    err = _error(capsys, "--source", str(path), "--target", "Status", "--positive", "bad")
    # 2 folds, 10pct: 2 per labelled part / 0.10 * 2 / 1 = 40 positives needed.
    assert "too few positives for 2 folds with regimes all,10pct: 20 rows, at least 40" in err
    ok = bench("--source", str(path), "--target", "Status", "--positive", "bad", "--regimes", "all")
    assert ok == 0, capsys.readouterr().err


def test_unreadable_file(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    path = tmp_path / "broken.parquet"
    path.write_bytes(b"not a parquet file")
    err = _error(capsys, "--source", str(path), "--target", "Status", "--positive", "bad")
    assert f"cannot read {path}" in err
    missing = _error(capsys, "--source", str(tmp_path / "nope.csv"), "--target", "Status")
    assert "file not found" in missing
