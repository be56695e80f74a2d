"""Fixtures for the fault tests: a session-wide trained template and private copies of it."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from tests.faults.helpers import cloned_database, trained_template


@pytest.fixture(scope="session")
def template_url(request: pytest.FixtureRequest) -> str:
    """A trained database (lending_club + active v0001); read-only: clone it to change it."""
    return trained_template(request.config)


@pytest.fixture
def trained_db(template_url: str) -> Iterator[str]:
    """This test's own copy of the trained database."""
    with cloned_database(template_url) as url:
        yield url
