"""Shadow rows in the real PostgreSQL prediction log: written with role='shadow' beside the
unchanged answers, paired to them, and invisible to monitoring's counts of live traffic."""

from __future__ import annotations

import datetime as dt
import time

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import func, select

from src.api.main import create_app
from src.api.prediction_log import PredictionLogWriter
from src.api.shadow import ShadowScorer, sampled
from src.api.state import Services
from src.data.database import get_engine, session_scope
from src.data.drift_queries import live_counts
from src.data.monitoring_repository import labelled_predictions, unlabelled_predictions
from src.data.shadow_repository import count_shadow_rows, shadow_pairs
from src.data.tables import Outcome, Prediction
from src.models.drift import build_profile
from tests.unit.api.conftest import SCHEMA, TRAIN, make_services, valid_request
from tests.unit.api.test_shadow_scorer import ShadowPredictor, _loaded

N = 40
SHARE = 0.5


def _wire(services: Services, url: str) -> ShadowScorer:
    """The fake-model app's services, but logging to the real database."""
    services.log = PredictionLogWriter(
        engine=lambda: get_engine(url), capacity=10_000, flush_seconds=0.05
    )
    scorer = ShadowScorer(
        log_rows=services.log.submit,
        log_has_room=lambda: True,
        metrics=services.metrics,
        share=SHARE,
        queue_size=1000,
    )
    scorer.model = _loaded(ShadowPredictor())
    services.shadow = scorer
    return scorer


def _count(url: str, **where: str) -> int:
    with session_scope(get_engine(url)) as session:
        stmt = select(func.count()).select_from(Prediction).filter_by(**where)
        return int(session.scalar(stmt) or 0)


def _wait(url: str, expected: int, **where: str) -> int:
    deadline = time.monotonic() + 20
    while (found := _count(url, **where)) < expected and time.monotonic() < deadline:
        time.sleep(0.05)
    return found


def test_shadow_rows_are_logged_paired_and_left_out_of_live_monitoring(db_url):
    services = make_services()
    scorer = _wire(services, db_url)
    client = TestClient(create_app(services))
    apps = [f"app-{i}" for i in range(N)]
    services.log.start()
    scorer.start()
    try:
        answers = [
            client.post("/predict", json=valid_request() | {"application_id": a}).json()
            for a in apps
        ]
        expected_shadow = sum(sampled(a, SHARE) for a in apps)
        assert 0 < expected_shadow < N  # the share really samples
        assert _wait(db_url, N, role="champion") == N
        assert _wait(db_url, expected_shadow, role="shadow") == expected_shadow
        # After a promotion the same version answers too: its earlier shadow scores must
        # not count as its live traffic.
        services.models.current = _loaded(ShadowPredictor())
        promoted = [
            client.post("/predict", json=valid_request(amount=9000) | {"application_id": a})
            for a in apps[:10]
        ]
        assert _wait(db_url, N + 10, role="champion") == N + 10
    finally:
        scorer.stop()
        services.log.stop()

    assert {a["model_version"] for a in answers} == {"v0007"}
    assert all(r.json()["model_version"] == "v0008" for r in promoted)
    assert _count(db_url, role="champion", model_version="v0007") == N
    assert _count(db_url, role="shadow", model_version="v0008") == expected_shadow
    assert _count(db_url, role="champion", model_version="v0008") == 10
    assert _count(db_url, role="shadow") == expected_shadow  # none once v0008 answers

    start = dt.datetime.now(dt.UTC) - dt.timedelta(hours=1)
    end = dt.datetime.now(dt.UTC) + dt.timedelta(hours=1)
    profile = build_profile(TRAIN, SCHEMA, [0.2, 0.4, 0.6, 0.8])
    with session_scope(get_engine(db_url)) as session:
        for shadowed_app in [a for a in apps if sampled(a, SHARE)][:3]:
            session.add(
                Outcome(application_id=shadowed_app, label=1, raw_label="bad", origin="test")
            )
        session.flush()
        for in_database in (True, False):  # the SQL path and the Python path
            counts = live_counts(
                session,
                profile=profile,
                model_version="v0008",
                window_start=start,
                window_end=end,
                in_database=in_database,
            )
            assert counts.n == 10
        window = {"model_version": "v0008", "start": start, "end": end}
        assert (
            len(unlabelled_predictions(session, **window))
            + len(labelled_predictions(session, **window))
            == 10
        )
        assert count_shadow_rows(session, model_version="v0008") == expected_shadow
        pairs = shadow_pairs(session, shadow_version="v0008", champion_version="v0007")
    assert len(pairs) == expected_shadow
    by_app = {a["application_id"]: a for a in answers}
    for app, champion_p, shadow_p in zip(
        pairs.application_ids, pairs.champion_proba, pairs.shadow_proba, strict=True
    ):
        assert champion_p == by_app[app]["probability"]
        assert shadow_p == pytest.approx(champion_p * 0.8 + 0.1)
    assert int((pairs.labels >= 0).sum()) == 3
