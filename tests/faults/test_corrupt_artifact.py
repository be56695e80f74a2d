"""A corrupted artifact in the registry is never served.

Already covered elsewhere, so not repeated here:

* ``tests/e2e/test_lifecycle.py`` — a corrupt model activated behind a *running* API's back:
  the previous model keeps serving, ``/model`` reports ``last_reload_error``, ``/metrics``
  counts the failure and a forced ``/admin/reload`` answers 409.
* ``tests/integration/pipeline/test_pipeline.py::test_tampered_artifact_is_refused`` —
  ``deploy`` rejects a tampered candidate and ``activate`` refuses it.

What this adds: an API that *starts* while the active model is corrupt (there is no previous
model to keep) comes up, reports the failure and answers 503 instead of serving it, and a
verified promotion (``deploy`` of a good candidate) brings it to ready without a restart.
"""

from __future__ import annotations

import pytest
from sqlalchemy import select, update

from src.data.database import get_engine, session_scope
from src.data.feature_schema import FeatureSchema
from src.data.tables import ModelArtifact
from src.pipeline.deployment import deploy
from tests.e2e.helpers import metric_value, pipeline_env, real_requests
from tests.e2e.server import SERVER_ENV, running_server, wait_until
from tests.faults.helpers import copy_model

pytestmark = [pytest.mark.integration, pytest.mark.e2e, pytest.mark.slow]

POLL = float(SERVER_ENV["MODEL_POLL_INTERVAL_SECONDS"])


def corrupt(url: str, version: str) -> None:
    """Flip bytes in the middle of the stored artifact; the recorded sha256 stays."""
    with session_scope(get_engine(url)) as session:
        artifact = session.scalars(
            select(ModelArtifact.artifact).where(ModelArtifact.model_version == version)
        ).one()
        blob = bytearray(artifact)
        blob[len(blob) // 2 : len(blob) // 2 + 16] = bytes(16)
        session.execute(
            update(ModelArtifact)
            .where(ModelArtifact.model_version == version)
            .values(artifact=bytes(blob))
        )


def test_api_started_on_a_corrupt_active_model_refuses_it_then_recovers(trained_db: str) -> None:
    copy_model(trained_db, trained_db, version="v0001", new_version="v0002")
    corrupt(trained_db, "v0001")

    with running_server(trained_db) as server, server.client() as client:
        ready = client.get("/ready")
        assert ready.status_code == 503
        assert "ArtifactIntegrityError" in ready.json()["detail"], ready.json()
        model = client.get("/model")
        assert model.status_code == 503
        assert model.json()["last_reload_error"]["version"] == "v0001"
        metrics = client.get("/metrics").text
        assert metric_value(metrics, 'model_reloads_total{result="failure"}') == 1
        assert metric_value(metrics, "model_last_reload_failed") == 1
        assert metric_value(metrics, "model_ready") == 0

        # Promote a verified candidate: the gate finds the champion unusable and replaces it.
        with pipeline_env(trained_db):
            result = deploy(model_version="v0002")
        assert result.promoted and "cannot score" in result.reason
        wait_until(lambda: client.get("/ready").status_code == 200)

        info = client.get("/model").json()
        assert info["model_version"] == "v0002" and info["last_reload_error"] is None
        schema = FeatureSchema.from_dict(info["feature_schema"])
        response = client.post("/predict", json=real_requests(trained_db, schema, 1)[0])
        assert response.status_code == 200 and response.json()["model_version"] == "v0002"
        assert 'status="500"' not in client.get("/metrics").text
