"""Shadow scoring on a real server: a candidate scores live traffic beside the champion,
never answering, and deploy promotes it into the champion slot without a reload.

Two quick models in one database; uvicorn runs with ``SHADOW_MODE=on``.  The answers must
be the champion's, every answered request must have its champion row and (SHARE 1.0) its
shadow row, and while requests keep coming, ``deploy`` must switch the answers to the
candidate with no failed request and without loading it again.
"""

from __future__ import annotations

import time

import pytest
from sqlalchemy import func, select

from src.data.database import get_engine, session_scope
from src.data.tables import Prediction
from src.pipeline.deployment import deploy
from tests.e2e.hammer import switch_under_load
from tests.e2e.helpers import (
    active_predictor,
    collect_rows,
    fresh_database,
    pipeline_env,
    real_requests,
    train_model,
)
from tests.e2e.server import running_server, wait_until

pytestmark = [pytest.mark.e2e, pytest.mark.slow]

N = 30


def _rows(url: str, **where: str) -> list[Prediction]:
    with session_scope(get_engine(url)) as session:
        return list(session.scalars(select(Prediction).filter_by(**where)).all())


def _count(url: str, **where: str) -> int:
    with session_scope(get_engine(url)) as session:
        stmt = select(func.count()).select_from(Prediction).filter_by(**where)
        return int(session.scalar(stmt) or 0)


def _settled(url: str) -> int:
    """The shadow row count once it stops changing (queue drained, log flushed)."""
    before = -1
    while (now := _count(url, role="shadow")) != before:
        before = now
        time.sleep(1.0)  # several flush intervals (PREDICTION_LOG_FLUSH_SECONDS=0.2)
    return now


def test_shadow_scores_then_deploy_swaps_it_in_without_a_reload(monkeypatch):
    with fresh_database() as url:
        with pipeline_env(url):
            collect_rows(3000)
            champion = train_model()  # the first model of the line: activated
            collect_rows(500)
            candidate = train_model()  # a candidate: the shadow of SHADOW_MODE=on
        requests = real_requests(url, active_predictor(url).schema, N)
        env = {"SHADOW_MODE": "on", "SHADOW_SHARE": "1.0"}
        with running_server(url, **env) as server, server.client() as client:
            wait_until(lambda: client.get("/model").json().get("shadow_version") == candidate)
            answers = []
            for i, body in enumerate(requests):
                response = client.post("/predict", json=body | {"application_id": f"app-{i}"})
                assert response.status_code == 200, response.text
                answers.append(response.json())
            assert {a["model_version"] for a in answers} == {champion}

            wait_until(lambda: _count(url, role="shadow") >= N, timeout=60)
            champion_rows = _rows(url, role="champion")
            shadow_rows = _rows(url, role="shadow")
            assert len(champion_rows) == N  # one per answer: the shadow added none
            assert {r.model_version for r in champion_rows} == {champion}
            assert len(shadow_rows) == N and {r.model_version for r in shadow_rows} == {candidate}
            assert {r.champion_prediction_id for r in shadow_rows} == {
                a["prediction_id"] for a in answers
            }
            by_id = {a["prediction_id"]: a for a in answers}
            for row in shadow_rows:
                assert row.application_id == by_id[row.champion_prediction_id]["application_id"]

            with switch_under_load(server.base_url, requests[0], old=champion, new=candidate):
                with pipeline_env(url):
                    monkeypatch.setenv("PROMOTION_MIN_DELTA", "-1")  # the gate passes
                    monkeypatch.setenv("SHADOW_MIN_SAMPLES", str(N))
                    from config.settings import get_settings

                    get_settings.cache_clear()
                    result = deploy(model_version=candidate)
                assert result.promoted, result.reason
                assert result.shadow is not None and result.shadow["n_pairs"] >= N
            log = server.log_text()
            assert f"serving model {candidate} (the loaded shadow, promoted without a reload)" in (
                log
            ), log
            # The promoted model is the champion now: no shadow is left, and nothing more is
            # shadow-scored.
            wait_until(lambda: client.get("/model").json().get("shadow_version") is None)
            shadowed = _settled(url)  # shadow scores made before the promotion have landed
            for body in requests[:5]:
                assert client.post("/predict", json=body).json()["model_version"] == candidate
        with session_scope(get_engine(url)) as session:
            stmt = select(func.count()).where(
                Prediction.role == "shadow", Prediction.model_version == candidate
            )
            assert session.scalar(stmt) == shadowed
