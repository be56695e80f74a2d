"""The `loan-default` command as a user runs it: a real subprocess against real PostgreSQL."""

from __future__ import annotations

import hashlib
import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

pytestmark = [pytest.mark.integration, pytest.mark.slow]

FAST = {
    "NUM_LAYERS": "2",
    "PRETRAIN_EPOCHS": "1",
    "FINETUNE_EPOCHS": "3",
    "PATIENCE": "2",
    "BATCH_SIZE": "256",
}


def cli(
    db_url: str, *args: str, check: bool = True, env: dict[str, str] | None = None
) -> subprocess.CompletedProcess[str]:
    env = os.environ | FAST | {"DATABASE_URL": db_url} | (env or {})
    proc = subprocess.run(
        [sys.executable, "-m", "src.cli", *args],
        env=env,
        text=True,
        capture_output=True,
        timeout=600,
    )
    if check and proc.returncode != 0:
        raise AssertionError(f"loan-default {' '.join(args)} failed:\n{proc.stdout}\n{proc.stderr}")
    return proc


def write_user_csv(path: Path, n: int = 1200, seed: int = 0) -> None:
    """A lender's own extract: string categoricals, numerics, a yes/no label, no id column."""
    rng = np.random.default_rng(seed)
    region = rng.choice(["north", "south", "east", "west"], n)
    product = rng.choice(["card", "auto", "mortgage"], n)
    income = rng.lognormal(10.5, 0.5, n).round(2)
    debt_ratio = rng.uniform(0, 1, n).round(3)
    logit = -2.5 + 3.0 * debt_ratio - 0.5 * (income > 40000) + 0.8 * (product == "card")
    default = rng.uniform(size=n) < 1 / (1 + np.exp(-logit))
    frame = pd.DataFrame(
        {
            "region": region,
            "product": product,
            "income": income,
            "debt_ratio": debt_ratio,
            "defaulted": np.where(default, "yes", "no"),
        }
    )
    frame.to_csv(path, index=False)


def test_user_csv_goes_through_collect_train_validate_predict(db_url, tmp_path):
    data = tmp_path / "applicants.csv"
    write_user_csv(data)
    cli(db_url, "init-db")
    out = cli(
        db_url,
        "collect",
        "--source",
        str(data),
        "--target",
        "defaulted",
        "--positive",
        "yes",
        "--batch-size",
        "900",
    ).stdout
    assert "applicants" in out
    trained = cli(db_url, "train", "--source", "applicants", "--no-progress").stdout
    assert "v0001" in trained and "roc_auc" in trained
    cli(db_url, "collect", "--source", str(data), "--target", "defaulted", "--positive", "yes")
    decision = json.loads(cli(db_url, "validate", "--json", "--f1-threshold", "0.99").stdout)
    assert decision["retrain"] is True and decision["n_samples"] == 300
    request = {
        "categorical_features": {"region": "north", "product": "card"},
        "numerical_features": {"income": 30000.0, "debt_ratio": 0.9},
    }
    req_file = tmp_path / "req.json"
    req_file.write_text(json.dumps(request))
    answer = json.loads(cli(db_url, "predict", "--json", str(req_file), "--explain").stdout)
    assert answer["model_version"] == "v0001"
    assert 0.0 <= answer["probability"] <= 1.0
    assert answer["prediction"] == int(answer["probability"] >= answer["threshold"])
    with_id = [request | {"application_id": "APP-1"}, request]
    req_file.write_text(json.dumps(with_id))
    answers = json.loads(cli(db_url, "predict", "--json", str(req_file)).stdout)
    assert [a["application_id"] for a in answers] == ["APP-1", None]
    req_file.write_text(json.dumps([request, request | {"application_id": "x" * 65}]))
    refused = cli(db_url, "predict", "--json", str(req_file), check=False)
    assert refused.returncode == 2 and "Traceback" not in refused.stderr
    assert "error: [1].application_id: is 65 characters long" in refused.stderr
    models = json.loads(cli(db_url, "models", "--json").stdout)
    assert [m["is_active"] for m in models] == [True]
    exported = cli(db_url, "export", env={"MODEL_PATH": str(tmp_path / "m")}).stdout
    artifact = tmp_path / "m" / "v0001.safetensors"
    assert hashlib.sha256(artifact.read_bytes()).hexdigest() == models[0]["artifact_sha256"]
    assert models[0]["artifact_sha256"] in exported


def test_user_mistakes_are_one_line_errors(db_url, tmp_path):
    cli(db_url, "init-db")
    for args, fragment in [
        (("collect", "--source", str(tmp_path / "missing.csv"), "--target", "y"), "missing.csv"),
        (("collect", "--source", "no_such_dataset"), "no_such_dataset"),
        (("train", "--source", "never_collected"), "never_collected"),
        (("deploy", "--model-version", "v9999"), "v9999"),
    ]:
        proc = cli(db_url, *args, check=False)
        assert proc.returncode == 2, proc.stderr
        assert "Traceback" not in proc.stderr
        assert fragment in proc.stderr
        error_lines = [ln for ln in proc.stderr.splitlines() if ln.startswith("error:")]
        assert len(error_lines) == 1, proc.stderr
