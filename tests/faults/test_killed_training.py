"""``loan-default train`` SIGKILLed mid-way: the registry is untouched and training recovers.

Each test works on a copy of the trained template (v0001 active), so "unchanged" is checked
against a registry that already holds a served model.  The kill point is read from
``loan_data.training_runs``: the stage a run has *committed* tells which stage is running.
"""

from __future__ import annotations

import hashlib
import subprocess
from typing import Any

import pytest
from sqlalchemy import select

from src.data import repository as repo
from src.data.database import get_engine, session_scope
from src.data.tables import ModelEvent, TrainingRun
from src.pipeline.serving import predictor_for
from src.pipeline.training import evaluate_stage, finetune_stage, register_stage
from tests.e2e.helpers import pipeline_env
from tests.e2e.server import REPO_ROOT
from tests.faults.helpers import cli_command, cli_env, kill_when, registry, run_cli

pytestmark = [pytest.mark.integration, pytest.mark.slow]

# Long enough stages that polling every 20 ms reliably lands inside the one we target.
SLOWER = {"PRETRAIN_EPOCHS": "3", "FINETUNE_EPOCHS": "6", "PATIENCE": "6"}


def runs(url: str) -> list[dict[str, Any]]:
    with session_scope(get_engine(url)) as session:
        rows = session.execute(
            select(
                TrainingRun.id,
                TrainingRun.stage,
                TrainingRun.model_version,
                TrainingRun.state,
                TrainingRun.state_sha256,
            ).order_by(TrainingRun.id)
        ).all()
    return [row._asdict() for row in rows]


def stage_of_new_run(url: str, known: int, stage: str) -> int | None:
    """Id of the run started by the subprocess once it has committed ``stage``."""
    new = [r for r in runs(url) if r["id"] > known]
    return new[0]["id"] if new and new[0]["stage"] == stage else None


def kill_training_at(url: str, stage: str) -> int:
    known = max(r["id"] for r in runs(url))
    process = subprocess.Popen(
        cli_command("train", "--no-progress"),
        cwd=REPO_ROOT,
        env=cli_env(url, **SLOWER),
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    run_id = kill_when(process, lambda: stage_of_new_run(url, known, stage), timeout=120)
    assert process.returncode == -9
    return int(run_id)


def assert_active_model_is_whole(url: str, version: str) -> None:
    """The active model is ``version`` and its artifact loads and verifies (sha256)."""
    with session_scope(get_engine(url)) as session:
        active = repo.get_active_model(session, source="lending_club")
        assert active is not None and active.model_version == version
        assert hashlib.sha256(active.artifact).hexdigest() == active.artifact_sha256
        predictor_for(active)  # raises ArtifactIntegrityError if not whole


def events(url: str) -> list[tuple[str, str | None]]:
    with session_scope(get_engine(url)) as session:
        rows = session.execute(select(ModelEvent.event, ModelEvent.model_version)).all()
    return [(e, v) for e, v in rows]


def test_kill_during_finetuning_leaves_registry_unchanged_and_run_resumes(trained_db: str) -> None:
    before, events_before = registry(trained_db), events(trained_db)
    run_id = kill_training_at(trained_db, "pretrained")  # i.e. while fine-tuning

    assert registry(trained_db) == before, "no half-registered model"
    assert events(trained_db) == events_before
    assert_active_model_is_whole(trained_db, "v0001")
    killed = next(r for r in runs(trained_db) if r["id"] == run_id)
    assert killed["stage"] == "pretrained" and killed["model_version"] is None
    assert hashlib.sha256(killed["state"]).hexdigest() == killed["state_sha256"]

    # Resume: the remaining stages of that very run, as an Airflow retry would call them.
    with pipeline_env(trained_db):
        finetune_stage(run_id=run_id, progress=False)
        evaluate_stage(run_id=run_id)
        version = register_stage(run_id=run_id)
    assert version == "v0002"
    after = registry(trained_db)
    assert after[:1] == before
    assert after[1]["model_version"] == version and after[1]["training_run_id"] == run_id
    assert after[1]["status"] == "candidate" and not after[1]["is_active"]
    assert_active_model_is_whole(trained_db, "v0001")
    with session_scope(get_engine(trained_db)) as session:
        predictor_for(repo.get_model(session, version=version))


def test_kill_during_pretraining_then_a_fresh_run_succeeds(trained_db: str) -> None:
    before = registry(trained_db)
    run_id = kill_training_at(trained_db, "prepared")  # i.e. while pretraining

    assert registry(trained_db) == before
    assert_active_model_is_whole(trained_db, "v0001")

    fresh = run_cli(trained_db, "train", "--no-progress")
    assert fresh.returncode == 0, fresh.stdout + fresh.stderr
    after = registry(trained_db)
    assert [m["model_version"] for m in after] == ["v0001", "v0002"]
    assert after[1]["training_run_id"] > run_id and after[1]["status"] == "candidate"
    abandoned = next(r for r in runs(trained_db) if r["id"] == run_id)
    assert abandoned["stage"] == "prepared" and abandoned["model_version"] is None
    assert_active_model_is_whole(trained_db, "v0001")
