"""What a newcomer and a hostile user see from the CLI: one line, exit 2, never a traceback.

Real subprocesses against real databases (PostgreSQL, and the SQLite file of the demo).
"""

from __future__ import annotations

import json
import subprocess
from pathlib import Path

import pytest

from src.data.database import throwaway_database
from src.pipeline.training import prepare_training
from tests.conftest import ADMIN_URL
from tests.integration.pipeline.test_cli import cli, write_user_csv

pytestmark = [pytest.mark.integration, pytest.mark.slow]


def one_line_error(proc: subprocess.CompletedProcess[str], *fragments: str) -> str:
    """The single ``error:`` line of a failed command, checked for each fragment."""
    assert proc.returncode == 2, proc.stdout + proc.stderr
    assert "Traceback" not in proc.stderr, proc.stderr
    lines = [ln for ln in proc.stderr.splitlines() if ln.strip()]
    assert len(lines) == 1 and lines[0].startswith("error:"), proc.stderr
    for fragment in fragments:
        assert fragment in lines[0], lines[0]
    return lines[0]


def collect_user_csv(db_url: str, tmp_path: Path, *, batch_size: str = "900") -> None:
    data = tmp_path / "applicants.csv"
    write_user_csv(data)
    cli(db_url, "init-db")
    cli(db_url, "collect", "--source", str(data), "--target", "defaulted", "--positive", "yes",
        "--batch-size", batch_size)  # fmt: skip


def test_commands_before_init_db_say_to_run_it(tmp_path: Path) -> None:
    sqlite_url = f"sqlite:///{tmp_path / 'fresh.db'}"
    with throwaway_database(ADMIN_URL, prefix="loan_noschema", migrate=False) as pg_url:
        for url in (sqlite_url, pg_url):
            for args in (("models",), ("validate",), ("runs",)):
                line = one_line_error(cli(url, *args, check=False), "loan-default init-db")
                assert "no loan_data schema yet" in line


def test_invalid_settings_fail_before_any_work(db_url: str, tmp_path: Path) -> None:
    collect_user_csv(db_url, tmp_path)
    bad = {
        "PATIENCE": ("abc", "PATIENCE", "(got 'abc')"),
        "NHEAD": ("3", "D_MODEL (32) must be divisible by NHEAD (3)", "[1, 2, 4, 8, 16, 32]"),
        "DROPOUT_RATE": ("1.5", "DROPOUT_RATE", "less than 1"),
    }
    for name, (value, *fragments) in bad.items():
        proc = cli(db_url, "train", "--no-progress", check=False, env={name: value})
        one_line_error(proc, "invalid settings", *fragments)
    assert json.loads(cli(db_url, "runs", "--json").stdout) == []  # no run was created


def test_model_path_and_request_file_mistakes_are_one_line(db_url: str, tmp_path: Path) -> None:
    collect_user_csv(db_url, tmp_path)
    cli(db_url, "train", "--no-progress")  # no --source: the only collected source
    a_file = tmp_path / "not_a_dir"
    a_file.write_text("x")
    for model_path in (a_file, a_file / "sub"):
        proc = cli(db_url, "export", check=False, env={"MODEL_PATH": str(model_path)})
        one_line_error(proc, f"MODEL_PATH={model_path}", "expected a directory")
    nested = tmp_path / "nested.json"
    nested.write_text("[" * 100_000 + "]" * 100_000)
    proc = cli(db_url, "predict", "--json", str(nested), check=False)
    one_line_error(proc, "nested too deeply")
    broken = tmp_path / "broken.json"
    broken.write_text('{"categorical_features": ')
    one_line_error(cli(db_url, "predict", "--json", str(broken), check=False), "not valid JSON")


def test_one_collected_source_is_the_default_and_deploy_speaks_plainly(
    db_url: str, tmp_path: Path
) -> None:
    collect_user_csv(db_url, tmp_path)  # DATA_SOURCE stays lending_club, never collected
    trained = cli(db_url, "train", "--no-progress").stdout
    assert "registered v0001 as active" in trained
    cli(db_url, "collect", "--source", "applicants")
    decision = json.loads(cli(db_url, "validate", "--json").stdout)
    assert (decision["model_version"], decision["n_samples"]) == ("v0001", 300)
    nothing = cli(db_url, "deploy").stdout
    assert "nothing to deploy: model line 'applicants' has no candidate" in nothing
    assert "-: not promoted" not in nothing
    same = cli(db_url, "deploy", "--model-version", "v0001").stdout
    assert "v0001: unchanged — already the champion of line 'applicants'" in same
    data_b = tmp_path / "second.csv"
    write_user_csv(data_b, seed=1)
    cli(db_url, "collect", "--source", str(data_b), "--target", "defaulted", "--positive", "yes")
    proc = cli(db_url, "validate", check=False)  # two lines now, and DATA_SOURCE is neither
    one_line_error(proc, "DATA_SOURCE='lending_club'", "known sources: applicants, second")


def test_unfinished_runs_are_listed_and_resumed(db_url: str, tmp_path: Path) -> None:
    collect_user_csv(db_url, tmp_path)
    run_id = prepare_training(source="applicants")  # e.g. a worker died after this stage
    unfinished = json.loads(cli(db_url, "runs", "--unfinished", "--json").stdout)
    assert [(r["id"], r["stage"]) for r in unfinished] == [(run_id, "prepared")]
    assert "train --resume" in cli(db_url, "runs").stdout
    resumed = cli(db_url, "train", "--resume", str(run_id), "--no-progress").stdout
    assert "registered v0001 as active" in resumed
    assert json.loads(cli(db_url, "runs", "--unfinished", "--json").stdout) == []
    proc = cli(db_url, "train", "--resume", str(run_id), "--source", "x", check=False)
    one_line_error(proc, "--resume continues an existing run")
    one_line_error(cli(db_url, "train", "--resume", "999", check=False), "999")
