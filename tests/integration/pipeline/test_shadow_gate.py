"""SHADOW_MIN_SAMPLES in the deploy gate, naming a shadow, and the report over real models."""

from __future__ import annotations

import datetime as dt
import json
import uuid

import pytest
from sqlalchemy import select

from config.settings import get_settings
from src.api.prediction_log import insert_ignoring_duplicates
from src.cli import main
from src.data import repository as repo
from src.data import shadow_repository as shadows
from src.data.database import get_engine, session_scope
from src.data.tables import ModelEvent, Outcome, ProcessedData
from src.exceptions import PromotionError
from src.pipeline.deployment import deploy
from src.pipeline.serving import predictor_for, score_records
from src.pipeline.shadow import name_shadow, shadow_report, stop_shadow
from src.pipeline.training import train
from tests.integration.pipeline.conftest import active_versions, ingest

pytestmark = [pytest.mark.integration, pytest.mark.slow]


def _records(count: int, offset: int) -> list[dict]:
    with session_scope() as session:
        schema = repo.get_model(session, version="v0001", with_artifact=False).feature_schema
        rows = session.scalars(
            select(ProcessedData.features)
            .order_by(ProcessedData.raw_id)
            .offset(offset)
            .limit(count)
        ).all()
    names = [*schema["categorical"], *schema["numerical"]]
    return [{n: f.get(n) for n in names} for f in rows]


def _serve_with_shadow(records: list[dict], apps: list[str]) -> None:
    """What the API logs for these records: v0001's answers and v0002's shadow scores."""
    with session_scope() as session:
        champion = predictor_for(repo.get_model(session, version="v0001"))
        challenger = predictor_for(repo.get_model(session, version="v0002"))
    scored = score_records(
        champion, records, request_ids=[f"r-{a}" for a in apps], application_ids=apps
    )
    proba, _ = challenger.predict_records(records)
    shadow_rows = [
        row
        | {
            "prediction_id": uuid.uuid4().hex,
            "model_version": "v0002",
            "probability": float(p),
            "prediction": int(p >= challenger.threshold),
            "role": "shadow",
            "champion_prediction_id": row["prediction_id"],
            "created_at": dt.datetime.now(dt.UTC),
        }
        for row, p in zip(scored.log_rows, proba, strict=True)
    ]
    insert_ignoring_duplicates(get_engine(), scored.log_rows + shadow_rows)


def test_promotion_waits_for_enough_shadow_scored_applications(fast_db, monkeypatch, capsys):
    ingest(3000, day=1)
    assert train(progress=False).activated  # v0001, the champion
    ingest(500, day=2)
    assert not train(progress=False).activated  # v0002, a candidate
    monkeypatch.setenv("SHADOW_MIN_SAMPLES", "5")
    monkeypatch.setenv("PROMOTION_MIN_DELTA", "-1")  # the held-out comparison always passes
    get_settings.cache_clear()

    refused = deploy(model_version="v0002")
    assert not refused.promoted
    assert "SHADOW_MIN_SAMPLES=5" in refused.reason and "it has 0" in refused.reason
    assert "loan-default shadow v0002" in refused.reason
    assert active_versions() == ["v0001"]
    with session_scope() as session:  # "not yet" is no rejection: it stays a candidate
        assert repo.get_model(session, version="v0002", with_artifact=False).status == ("candidate")

    # Naming: never the champion; the named version is every server's shadow target.
    with pytest.raises(PromotionError, match="champion"):
        name_shadow(model_version="v0001")
    assert name_shadow(model_version="v0002") == "lending_club"
    with session_scope() as session:
        target = shadows.shadow_target(session, source="lending_club", newest_candidate=False)
        assert target is not None and target.model_version == "v0002"
    assert stop_shadow() == "v0002"
    with session_scope() as session:
        assert shadows.shadow_target(session, source="lending_club", newest_candidate=False) is (
            None
        )
        newest = shadows.shadow_target(session, source="lending_club", newest_candidate=True)
        assert newest is not None and newest.model_version == "v0002"

    records = _records(5, offset=3200)
    apps = [f"app-{i}" for i in range(5)]
    _serve_with_shadow(records[:4], apps[:4])
    still = deploy(model_version="v0002")
    assert not still.promoted and "it has 4" in still.reason
    assert still.shadow is not None and still.shadow["n_pairs"] == 4

    _serve_with_shadow(records[4:], apps[4:])
    with session_scope() as session:
        for app, label in (("app-0", 1), ("app-1", 0), ("app-2", 1)):
            session.add(Outcome(application_id=app, label=label, raw_label=str(label), origin="t"))
    promoted = deploy(model_version="v0002")
    assert promoted.promoted, promoted.reason
    assert active_versions() == ["v0002"]
    live = promoted.shadow
    assert live is not None
    assert live["champion_version"] == "v0001" and live["n_pairs"] == 5
    assert live["n_labelled"] == 3 and live["realised"] is not None
    assert 0.0 <= live["flip_share"] <= 1.0 and live["score_psi"] is not None

    # After the promotion the report still compares v0002 with the champion it shadowed.
    after = shadow_report(model_version="v0002")
    assert after["champion_version"] == "v0001" and after["n_pairs"] == 5
    with session_scope() as session:
        events = session.scalars(select(ModelEvent.event).order_by(ModelEvent.id)).all()
    assert "rejected" not in events
    assert {"shadow_named", "shadow_stopped", "promoted"} <= set(events)

    # The CLI: the same report as JSON and as text; a bad invocation is one error line.
    capsys.readouterr()
    assert main(["shadow-report", "v0002", "--json"]) == 0
    assert json.loads(capsys.readouterr().out)["n_pairs"] == 5
    assert main(["shadow-report", "v0002"]) == 0
    text = capsys.readouterr().out
    assert "shadow v0002 vs champion v0001: 5 paired scores" in text
    assert "decisions that would flip" in text and "realised on 3 outcomes" in text
    assert main(["shadow"]) == 2
    assert "name a model version to shadow, or --stop" in capsys.readouterr().err
    assert main(["shadow", "v0002"]) == 2  # the champion now
    assert "champion" in capsys.readouterr().err
