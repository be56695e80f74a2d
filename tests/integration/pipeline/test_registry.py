"""The one-active-model invariant, enforced by PostgreSQL itself."""

from __future__ import annotations

import threading

import pytest
from sqlalchemy import select, update
from sqlalchemy.exc import IntegrityError

from src.data import repository as repo
from src.data.database import get_engine, session_scope
from src.data.tables import ModelEvent, ModelMetadata
from src.exceptions import PromotionError

METRICS = dict(f1_score=0.2, accuracy=0.9, precision=0.2, recall=0.2, roc_auc=0.7, pr_auc=0.1)


def add_candidates(n: int) -> list[str]:
    versions = [f"v{i:04d}" for i in range(1, n + 1)]
    with session_scope() as session:
        for version in versions:
            session.add(
                ModelMetadata(
                    model_version=version,
                    source="lending_club",
                    training_config={},
                    feature_schema={},
                    data_snapshot={"max_raw_id": 1},
                    threshold=0.5,
                    artifact=b"x",
                    artifact_sha256="0" * 64,
                    artifact_size=1,
                    status="candidate",
                    is_active=False,
                    **METRICS,
                )
            )
    return versions


def test_database_refuses_a_second_active_row(db_url):
    v1, v2 = add_candidates(2)
    repo.activate_model(get_engine(), version=v1, reason="test")
    with pytest.raises(IntegrityError), session_scope() as session:
        session.execute(
            update(ModelMetadata)
            .where(ModelMetadata.model_version == v2)
            .values(is_active=True, status="active")
        )


def test_status_and_flag_cannot_disagree(db_url):
    (v1,) = add_candidates(1)
    with pytest.raises(IntegrityError), session_scope() as session:
        session.execute(
            update(ModelMetadata).where(ModelMetadata.model_version == v1).values(is_active=True)
        )


def test_concurrent_activations_leave_exactly_one_active(db_url):
    versions = add_candidates(6)
    engine = get_engine()
    barrier = threading.Barrier(len(versions))
    failures: list[BaseException] = []

    def activate(version: str) -> None:
        barrier.wait()
        try:
            repo.activate_model(engine, version=version, reason="race")
        except PromotionError as exc:  # a clean, reported loss is allowed; corruption is not
            failures.append(exc)

    threads = [threading.Thread(target=activate, args=(v,)) for v in versions]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=60)
    with session_scope() as session:
        rows = session.execute(
            select(ModelMetadata.model_version, ModelMetadata.is_active, ModelMetadata.status)
        ).all()
        events = session.scalars(select(ModelEvent.event)).all()
    active = [v for v, is_active, _ in rows if is_active]
    assert len(active) == 1
    assert {s for v, _, s in rows if v not in active} == {"retired"} or failures
    assert events.count("promoted") + events.count("promotion_failed") == len(versions)
    retired_chain = events.count("promoted")
    assert retired_chain == len(versions) - len(failures)


def test_activation_retires_the_previous_model(db_url):
    v1, v2 = add_candidates(2)
    engine = get_engine()
    assert repo.activate_model(engine, version=v1, reason="first") is None
    assert repo.activate_model(engine, version=v2, reason="second") == v1
    with session_scope() as session:
        old = repo.get_model(session, version=v1, with_artifact=False)
        new = repo.get_model(session, version=v2, with_artifact=False)
    assert (old.is_active, old.status, new.is_active, new.status) == (
        False,
        "retired",
        True,
        "active",
    )
    assert old.retired_at is not None and new.activated_at is not None
