"""Hot reload: swap on a new active version, keep the old model when a load fails."""

from __future__ import annotations

import hashlib
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import pytest
from sqlalchemy import Engine, create_engine, update

from src.api.metrics import ServiceMetrics
from src.api.model_manager import ModelManager
from src.data.database import get_engine, session_scope
from src.data.tables import Base, ModelMetadata
from src.exceptions import ArtifactIntegrityError


@pytest.fixture
def engine(tmp_path: Path) -> Engine:
    engine = get_engine(f"sqlite:///{tmp_path / 'registry.db'}")
    Base.metadata.create_all(engine)
    return engine


def add_model(engine: Engine, version: str, *, active: bool, artifact: bytes = b"ok") -> None:
    metrics = dict.fromkeys(
        ("f1_score", "accuracy", "precision", "recall", "roc_auc", "pr_auc"), 0.5
    )
    with session_scope(engine) as session:
        if active:
            session.execute(update(ModelMetadata).values(is_active=False, status="retired"))
        session.add(
            ModelMetadata(
                model_version=version,
                source="lending_club",
                training_config={},
                feature_schema={},
                data_snapshot={"row_count": 1},
                threshold=0.5,
                artifact=artifact,
                artifact_sha256=hashlib.sha256(artifact).hexdigest(),
                artifact_size=len(artifact),
                is_active=active,
                status="active" if active else "candidate",
                **metrics,
            )
        )


def fake_loader(row: ModelMetadata) -> Any:
    if row.artifact != b"ok":
        raise ArtifactIntegrityError(f"checksum mismatch for {row.model_version}")
    return SimpleNamespace(
        version=row.model_version,
        preprocessor=SimpleNamespace(categories={}),
        schema=SimpleNamespace(categorical=()),
    )


def manager_for(engine: Any) -> tuple[ModelManager, ServiceMetrics]:
    metrics = ServiceMetrics()
    factory = engine if callable(engine) and not isinstance(engine, Engine) else lambda: engine
    return ModelManager(
        engine=factory, poll_seconds=0.05, metrics=metrics, loader=fake_loader
    ), metrics


def sample(metrics: ServiceMetrics, name: str, **labels: str) -> float | None:
    return metrics.registry.get_sample_value(name, labels or None)


def test_no_active_model_means_not_loaded(engine: Engine) -> None:
    manager, _ = manager_for(engine)
    result = manager.check()
    assert manager.current is None
    assert (result.version, result.changed, result.error) == (None, False, None)


def test_loads_then_swaps_on_a_new_active_version(engine: Engine) -> None:
    add_model(engine, "v0001", active=True)
    manager, metrics = manager_for(engine)
    assert manager.check().changed
    first = manager.current
    assert first is not None and first.version == "v0001"
    assert first.info["data_snapshot"] == {"row_count": 1}
    assert not manager.check().changed
    assert manager.current is first  # unchanged: same object

    add_model(engine, "v0002", active=True)
    assert manager.check().changed
    assert manager.current is not None and manager.current.version == "v0002"
    assert first.predictor.version == "v0001"  # a request holding the old one is unaffected
    assert sample(metrics, "model_loaded_info", version="v0002") == 1
    assert sample(metrics, "model_loaded_info", version="v0001") is None
    assert sample(metrics, "model_reloads_total", result="success") == 2


def test_failed_load_keeps_the_old_model_and_is_reported(engine: Engine) -> None:
    add_model(engine, "v0001", active=True)
    manager, metrics = manager_for(engine)
    manager.check()
    add_model(engine, "v0002", active=True, artifact=b"corrupt")
    result = manager.check()
    assert not result.changed and "checksum mismatch" in (result.error or "")
    assert manager.current is not None and manager.current.version == "v0001"
    assert manager.last_error is not None and manager.last_error.version == "v0002"
    assert sample(metrics, "model_reloads_total", result="failure") == 1
    assert sample(metrics, "model_last_reload_failed") == 1

    manager.check()  # the same broken artifact is not reloaded on every poll
    assert sample(metrics, "model_reloads_total", result="failure") == 1
    manager.check(force=True)  # an operator's reload retries it
    assert sample(metrics, "model_reloads_total", result="failure") == 2

    with session_scope(engine) as session:  # rollback to the served model clears the alarm
        session.execute(update(ModelMetadata).values(is_active=False, status="retired"))
        session.execute(
            update(ModelMetadata)
            .where(ModelMetadata.model_version == "v0001")
            .values(is_active=True, status="active")
        )
    assert not manager.check().changed
    assert manager.last_error is None
    assert sample(metrics, "model_last_reload_failed") == 0


def test_unreachable_database_is_a_poll_error_not_a_crash(engine: Engine) -> None:
    add_model(engine, "v0001", active=True)
    state = {"up": True}
    broken = create_engine("sqlite:////nonexistent-dir/for/sure/x.db")
    manager, metrics = manager_for(lambda: engine if state["up"] else broken)
    manager.check()
    state["up"] = False
    result = manager.check()
    assert result.database_error and result.version == "v0001"
    assert manager.current is not None  # still serving
    assert manager.last_poll_error is not None
    assert sample(metrics, "model_poll_errors_total") == 1
    state["up"] = True
    manager.check()
    assert manager.last_poll_error is None


def test_poller_thread_loads_in_the_background(engine: Engine) -> None:
    import time

    manager, _ = manager_for(engine)
    manager.start()
    try:
        # Generous deadlines: this proves the poller loads the model, not how fast.
        assert manager.first_check.wait(60)
        assert manager.current is None
        add_model(engine, "v0001", active=True)
        deadline = time.monotonic() + 60
        while manager.current is None and time.monotonic() < deadline:
            time.sleep(0.02)
        assert manager.current is not None and manager.current.version == "v0001"
    finally:
        manager.stop()
