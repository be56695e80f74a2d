"""The ORM's status constraint is generated from MODEL_STATUSES and matches migration 0001."""

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
