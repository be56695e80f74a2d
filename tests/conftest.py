"""Shared fixtures: each test session gets its own throw-away PostgreSQL database.

``TEST_ADMIN_DATABASE_URL`` (default: the local trust-auth server) is used only to
create and drop that database, so parallel sessions never see each other's rows.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path

import pytest
from sqlalchemy import text

from config.settings import get_settings
from src.data.database import get_engine, throwaway_database
from src.data.tables import Base

ADMIN_URL = os.environ.get(
    "TEST_ADMIN_DATABASE_URL", "postgresql://postgres@127.0.0.1:5432/postgres"
)

TESTS = Path(__file__).parent
# Markers each top-level test folder implies: what the tests there need and cost, so that
# ``-m`` selections (``make test-fast``: ``unit and not slow``) follow the folder layout.
# A ``pytestmark`` in a conftest.py is ignored by pytest; this hook is what applies them.
FOLDER_MARKERS: dict[str, tuple[str, ...]] = {
    "unit": ("unit",),  # no services: no database, no subprocesses
    "integration": ("integration",),  # the real PostgreSQL
    "airflow": ("airflow", "integration"),
    "e2e": ("e2e", "integration", "slow"),
    "faults": ("integration", "slow"),
    "fuzz": ("integration", "slow"),
    "bench": ("slow",),
    "compose": ("compose",),
}
# Unit tests that train a model (seconds each on 2 cores): the modules below, and any
# test that needs the session-trained ``bundle`` fixture (tests/unit/models/conftest.py).
TRAINING_UNIT_MODULES = frozenset(
    {"models/test_training.py", "models/test_real_data.py", "models/test_options.py"}
)


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    """Mark every test by its folder, and unit tests that train a model as ``slow``."""
    for item in items:
        parts = Path(item.path).relative_to(TESTS).parts
        if len(parts) < 2:
            continue
        for name in FOLDER_MARKERS.get(parts[0], ()):
            item.add_marker(name)
        trains = "/".join(parts[1:]) in TRAINING_UNIT_MODULES or "bundle" in getattr(
            item, "fixturenames", ()
        )
        if parts[0] == "unit" and trains:
            item.add_marker("slow")


@pytest.fixture(scope="session")
def pg_url() -> Iterator[str]:
    """URL of a freshly created and migrated PostgreSQL database for this session."""
    with throwaway_database(ADMIN_URL, prefix="loan_test") as url:
        yield url


@pytest.fixture
def db_url(pg_url: str, monkeypatch: pytest.MonkeyPatch) -> Iterator[str]:
    """The session database, emptied, and installed as DATABASE_URL for code under test."""
    engine = get_engine(pg_url)
    tables = ", ".join(f"{t.schema}.{t.name}" for t in Base.metadata.sorted_tables)
    with engine.begin() as conn:
        conn.execute(text(f"TRUNCATE {tables} RESTART IDENTITY CASCADE"))
    monkeypatch.setenv("DATABASE_URL", pg_url)
    get_settings.cache_clear()
    yield pg_url
    get_settings.cache_clear()


@pytest.fixture
def fast_training_env(monkeypatch: pytest.MonkeyPatch) -> None:
    """Small, quick model settings for tests that train end to end."""
    for key, value in {
        "NUM_LAYERS": "2",
        "PRETRAIN_EPOCHS": "1",
        "FINETUNE_EPOCHS": "3",
        "PATIENCE": "2",
        "BATCH_SIZE": "256",
    }.items():
        monkeypatch.setenv(key, value)
    get_settings.cache_clear()
