"""Fixtures for end-to-end tests: a real uvicorn process over real HTTP and PostgreSQL."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import httpx
import pytest

from tests.e2e import pg_cluster
from tests.e2e.helpers import (
    active_predictor,
    collect_rows,
    fresh_database,
    pipeline_env,
    real_requests,
    train_model,
)
from tests.e2e.pg_cluster import PgCluster
from tests.e2e.server import ApiServer, running_server


@dataclass
class Served:
    database_url: str
    server: ApiServer
    client: httpx.Client
    predictor: Any  # the same model, loaded in the test process
    version: str
    requests: list[dict[str, Any]]  # real lending_club rows in the reference request shape


@pytest.fixture(scope="module")
def served() -> Iterator[Served]:
    """One trained model in its own database, served by one uvicorn for a whole module."""
    with fresh_database() as url:
        with pipeline_env(url):
            collect_rows()
            version = train_model()
        predictor = active_predictor(url)
        requests = real_requests(url, predictor.schema, 60)
        with running_server(url) as server, server.client() as client:
            yield Served(url, server, client, predictor, version, requests)


@pytest.fixture
def throwaway_cluster() -> Iterator[PgCluster]:
    """A private PostgreSQL cluster the test may stop and restart (never the shared one)."""
    reason = pg_cluster.available()
    if reason:
        pytest.skip(reason)
    with PgCluster.create() as cluster:
        yield cluster
