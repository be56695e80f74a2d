"""The ORM's status constraints are generated from their tuples and match the migrations."""

from __future__ import annotations

from pathlib import Path

from sqlalchemy import CheckConstraint

from src.data.tables import MODEL_STATUS_CHECK, MODEL_STATUSES, ModelMetadata

MIGRATION = Path(__file__).parents[3] / "src/data/migrations/versions/0001_initial_schema.py"


def test_status_check_lists_every_status() -> None:
    assert MODEL_STATUS_CHECK == "status IN ('candidate', 'active', 'retired', 'rejected')"
    assert all(f"'{status}'" in MODEL_STATUS_CHECK for status in MODEL_STATUSES)


def test_orm_constraint_is_the_migrated_one() -> None:
    """A new status needs a migration: the frozen migration text must say the same."""
    checks = {
        c.name: str(c.sqltext)
        for c in ModelMetadata.__table__.constraints
        if isinstance(c, CheckConstraint)
    }
    assert checks["ck_model_status"] == MODEL_STATUS_CHECK
    assert f'"{MODEL_STATUS_CHECK}", name="ck_model_status"' in MIGRATION.read_text()


def test_batch_run_status_check_is_the_migrated_one() -> None:
    """Batch runs are 'running' or 'complete'; migration 0004 must say the same."""
    from src.data.batch_tables import BATCH_RUN_STATUS_CHECK, BatchRun

    migration = MIGRATION.with_name("0004_batch_scores.py").read_text()
    checks = {
        c.name: str(c.sqltext)
        for c in BatchRun.__table__.constraints
        if isinstance(c, CheckConstraint)
    }
    assert checks["ck_batch_runs_status"] == BATCH_RUN_STATUS_CHECK
    assert BATCH_RUN_STATUS_CHECK == "status IN ('running', 'complete')"
    assert f'"{BATCH_RUN_STATUS_CHECK}", name="ck_batch_runs_status"' in migration
