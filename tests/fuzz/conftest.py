"""One trained model served by one uvicorn (127.0.0.1) for all fuzzing tests of the session."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import httpx
import pytest

from src.data.feature_schema import FeatureSchema
from tests.e2e.helpers import real_requests
from tests.e2e.server import ApiServer, running_server
from tests.faults.helpers import cloned_database, trained_template


@dataclass
class Target:
    database_url: str
    server: ApiServer
    client: httpx.Client
    schema: FeatureSchema
    request: dict[str, Any]  # one real lending_club applicant in the reference shape

    @property
    def openapi_url(self) -> str:
        return f"{self.server.base_url}/openapi.json"


@pytest.fixture(scope="session")
def target(request: pytest.FixtureRequest) -> Iterator[Target]:
    """ADMIN_API_KEY set (tests.e2e.server.SERVER_ENV), PREDICT_API_KEY unset (the default)."""
    with (
        cloned_database(trained_template(request.config)) as url,
        running_server(url) as server,
        server.client() as client,
    ):
        schema = FeatureSchema.from_dict(client.get("/model").json()["feature_schema"])
        yield Target(url, server, client, schema, real_requests(url, schema, 1)[0])
