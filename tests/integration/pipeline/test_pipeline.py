"""The whole loop on real lending_club rows against the real PostgreSQL (small, fast models)."""

from __future__ import annotations

import pytest
from sqlalchemy import select, update

from src.data import repository as repo
from src.data.database import session_scope
from src.data.tables import ModelArtifact, ModelEvent, ModelPerformance
from src.exceptions import ArtifactIntegrityError
from src.pipeline.deployment import activate, deploy
from src.pipeline.serving import predictor_for
from src.pipeline.training import train
from src.pipeline.validation import validate
from tests.integration.pipeline.conftest import active_versions, ingest, model_count

pytestmark = [pytest.mark.integration, pytest.mark.slow]


def test_full_pipeline_on_a_small_slice(fast_db):
    ingest(3000, day=1)
    first = train(progress=False)
    assert first.model_version == "v0001" and first.activated
    assert 0.0 <= first.metrics["f1_score"] <= 1.0 and first.metrics["roc_auc"] > 0.5
    assert active_versions() == ["v0001"]

    ingest(1500, day=2)
    forced = validate(f1_threshold=0.99)
    assert forced.retrain and "mean F1" in forced.reason
    assert forced.n_samples == 1500
    # Out of reach: the absolute rule, the sample count, and the relative drop (a quick
    # model's F1 on 1,500 rows is noisy).
    relaxed = validate(f1_threshold=0.0, sample_threshold=10**6, performance_drop_ratio=0.99)
    assert not relaxed.retrain, relaxed.reason
    by_samples = validate(f1_threshold=0.0, sample_threshold=1000, performance_drop_ratio=0.99)
    assert by_samples.retrain and "new labelled rows" in by_samples.reason
    with session_scope() as session:
        perf = session.scalars(select(ModelPerformance).order_by(ModelPerformance.id)).all()
    assert [p.retrain for p in perf] == [True, False, True]
    assert all(p.n_samples == 1500 and p.f1_score is not None for p in perf)

    second = train(progress=False)
    assert second.model_version == "v0002" and not second.activated
    result = deploy()
    assert result.model_version == "v0002"
    assert result.promoted == (result.challenger_score > result.champion_score)
    assert active_versions() == (["v0002"] if result.promoted else ["v0001"])
    assert result.n_eval_rows > 0


def test_gate_keeps_champion_and_cooldown_blocks_retrain_loop(fast_db, monkeypatch):
    from config.settings import get_settings

    ingest(3000, day=1)
    champion = train(progress=False)
    ingest(1000, day=2)
    # A challenger that barely trains: one epoch at a negligible learning rate.
    monkeypatch.setenv("LEARNING_RATE", "1e-9")
    monkeypatch.setenv("PRETRAIN_EPOCHS", "0")
    monkeypatch.setenv("FINETUNE_EPOCHS", "1")
    get_settings.cache_clear()
    challenger = train(progress=False)
    result = deploy(model_version=challenger.model_version)
    assert not result.promoted
    assert result.challenger_score < result.champion_score
    assert "did not beat the champion" in result.reason
    assert active_versions() == [champion.model_version]
    with session_scope() as session:
        rejected = repo.get_model(session, version=challenger.model_version, with_artifact=False)
        events = session.scalars(select(ModelEvent.event)).all()
    assert rejected.status == "rejected" and "did not beat" in rejected.status_reason
    assert "rejected" in events

    decision = validate(f1_threshold=0.99)
    assert not decision.retrain
    assert "cooldown" in decision.reason
    monkeypatch.setenv("RETRAIN_COOLDOWN_HOURS", "0")
    get_settings.cache_clear()
    assert validate(f1_threshold=0.99).retrain


def test_tampered_artifact_is_refused(fast_db):
    ingest(3000, day=1)
    first = train(progress=False)
    with session_scope() as session:
        model = repo.get_model(session, version=first.model_version)
        tampered = bytearray(model.artifact)
        tampered[len(tampered) // 2] ^= 0xFF
        session.execute(
            update(ModelArtifact)
            .where(ModelArtifact.model_version == first.model_version)
            .values(artifact=bytes(tampered))
        )
    with session_scope() as session:
        model = repo.get_model(session, version=first.model_version)
        with pytest.raises(ArtifactIntegrityError, match="sha256"):
            predictor_for(model)
    ingest(500, day=2)
    with pytest.raises(ArtifactIntegrityError):
        validate(f1_threshold=0.5)

    # A tampered candidate is rejected by the gate and cannot be force-activated.
    second = train(progress=False)
    with session_scope() as session:
        session.execute(
            update(ModelArtifact)
            .where(ModelArtifact.model_version == second.model_version)
            .values(artifact=b"not a safetensors file")
        )
    with pytest.raises(ArtifactIntegrityError):
        activate(model_version=second.model_version)
    result = deploy(model_version=second.model_version)
    assert not result.promoted and "artifact failed verification" in result.reason
    assert model_count() == 2 and active_versions() == [first.model_version]


def test_numeric_embedding_ple_trains_registers_and_serves(fast_db, monkeypatch):
    """NUMERIC_EMBEDDING=ple flows from the settings through the stages into the registry:
    the artifact read back from PostgreSQL carries the fitted bin edges, one token per
    numerical feature, and serves the same PDs on the records path as on the frame path."""
    from config.settings import get_settings
    from src.data.frames import records_to_frame

    monkeypatch.setenv("NUMERIC_EMBEDDING", "ple")
    monkeypatch.setenv("PLE_BINS", "8")
    get_settings.cache_clear()
    ingest(3000, day=1)
    first = train(progress=False)
    assert first.metrics["roc_auc"] > 0.5
    with session_scope() as session:
        predictor = predictor_for(repo.get_model(session, version=first.model_version))
    pre = predictor.preprocessor
    assert pre.numeric_encoding == "ple" and set(pre.bin_edges) == set(pre.schema.numerical)
    assert max(pre.value_widths) == 8
    assert predictor._model.numerical_tokens
    assert predictor._model.n_tokens == len(pre.schema.categorical) + len(pre.schema.numerical)
    record = {c: None for c in pre.schema.features} | {"int_rate": 14.5, "annual_inc": 52000.0}
    proba, _ = predictor.predict_records([record])
    expected = predictor.predict_proba(records_to_frame([record], pre.schema))
    assert proba.shape == (1,) and proba[0] == expected[0]
