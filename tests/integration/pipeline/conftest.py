"""Helpers for pipeline tests: real ingestion of real lending_club rows, small fast models."""

from __future__ import annotations

import datetime as dt

import pytest
from sqlalchemy import func, select

from config.settings import get_settings
from src.data.database import get_engine, session_scope
from src.data.ingest import collect
from src.data.tables import ModelMetadata


def ingest(batch_size: int | None, day: int = 1) -> None:
    collect(source="lending_club", batch_size=batch_size, data_date=dt.date(2026, 1, day))


def active_versions() -> list[str]:
    with session_scope() as session:
        stmt = select(ModelMetadata.model_version).where(ModelMetadata.is_active.is_(True))
        return list(session.scalars(stmt))


def model_count() -> int:
    with session_scope() as session:
        return int(session.scalar(select(func.count()).select_from(ModelMetadata)) or 0)


@pytest.fixture
def fast_db(db_url: str, fast_training_env: None) -> str:
    """A clean PostgreSQL database with quick training settings."""
    get_settings.cache_clear()
    get_engine(db_url)
    return db_url
