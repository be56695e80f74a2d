"""Assemble a model card: the registry row, its held-out evaluation, history and rival.

The card is plain JSON-able data (``GET /models/{version}/card.json``); the HTML report is
drawn from it and nothing else, so the two can never disagree.  Admin-only content (the full
training configuration and the source's location) is included only when asked for.
"""

from __future__ import annotations

import datetime as dt
import logging
from typing import Any

import numpy as np

from src.data import repository as repo
from src.data.database import get_engine, session_scope
from src.data.frames import LabelledFrame
from src.data.tables import DataSource, ModelMetadata
from src.exceptions import ModelNotFoundError
from src.models.metrics import METRIC_NAMES
from src.pipeline.serving import predictor_for
from src.reporting import evidence, sections

logger = logging.getLogger(__name__)

CARD_FORMAT = 1
ADMIN_NOTE = "admin only: send the X-API-Key header with ADMIN_API_KEY, or use the CLI"


def resolve_version(*, version: str | None, source: str | None) -> str:
    """``version`` itself, or the active model of the line (``source`` or the default)."""
    if version:
        return version
    from src.pipeline.model_lines import resolve_line

    line = resolve_line(source)
    with session_scope() as session:
        active = repo.get_active_version(session, source=line)
    if active is None:
        raise ModelNotFoundError(f"model line {line!r} has no active model; name a version")
    return active


def build_card(*, version: str, include_admin: bool) -> dict[str, Any]:
    """Every section of the report for ``version`` (ModelNotFoundError if it does not exist)."""
    with session_scope(get_engine()) as session:
        model = repo.get_model(session, version=version)
        predictor = predictor_for(model)  # verifies the artifact's sha256
        rival = evidence.rival_for(session, model)
        history = {
            "events": evidence.events(session, version=version),
            "performance": evidence.performance_history(session, version=version),
            "drift": evidence.drift_history(session, version=version),
        }
        reasons = evidence.reason_summary(session, model, predictor)
        source_row = session.get(DataSource, model.source)
        location = (
            None
            if source_row is None
            else {"kind": source_row.kind, "location": source_row.location}
        )
    frame = evidence.report_rows(model, rival)
    own = evidence.held_out_mask(frame, model)
    versus = evidence.comparison_mask(frame, model, rival) if rival else np.zeros_like(own)
    scored = frame.subset(own | versus)  # every row this model scores, in one forward pass
    proba = np.full(len(frame), np.nan)
    proba[own | versus] = predictor.predict_proba(scored.features)
    evaluation = sections.evaluate(frame.labels[own], proba[own], threshold=model.threshold)
    features = model.feature_schema
    n_features = len(features.get("categorical", [])) + len(features.get("numerical", []))
    return sections.clean(
        {
            "card_format": CARD_FORMAT,
            "generated_at": dt.datetime.now(dt.UTC).isoformat(timespec="seconds"),
            "model": _details(model),
            "admin": (
                {"training_config": model.training_config, "source": location}
                if include_admin
                else {"note": ADMIN_NOTE}
            ),
            "status_history": history["events"],
            "intended_use": sections.intended_use(
                source=model.source,
                evaluation=evaluation,
                n_features=n_features,
                threshold=model.threshold,
            ),
            **evaluation,
            "benchmark": sections.benchmark(
                model_metrics={name: getattr(model, name) for name in METRIC_NAMES},
                benchmark_metrics=model.benchmark_metrics,
            ),
            "comparison": _comparison(
                model, rival, history["events"], frame=frame.subset(versus), proba=proba[versus]
            ),
            "over_time": {"performance": history["performance"], "drift": history["drift"]},
            "explanations": reasons,
        }
    )


def _details(model: ModelMetadata) -> dict[str, Any]:
    def when(value: dt.datetime | None) -> str | None:
        return value.isoformat() if value else None

    return {
        "version": model.model_version,
        "source": model.source,
        "model_type": model.model_type,
        "created_at": when(model.created_at),
        "status": model.status,
        "status_reason": model.status_reason,
        "is_active": model.is_active,
        "activated_at": when(model.activated_at),
        "retired_at": when(model.retired_at),
        "threshold": model.threshold,
        "artifact_sha256": model.artifact_sha256,
        "artifact_size": model.artifact_size,
        "training_run_id": model.training_run_id,
        "data_snapshot": model.data_snapshot,
        "feature_schema": model.feature_schema,
        "registry_metrics": {name: getattr(model, name) for name in METRIC_NAMES},
        "benchmark_metrics": model.benchmark_metrics,
    }


def _comparison(
    model: ModelMetadata,
    rival: ModelMetadata | None,
    events: list[dict[str, Any]],
    *,
    frame: LabelledFrame,
    proba: np.ndarray,
) -> dict[str, Any]:
    decisions = [e for e in events if e["event"] in ("promoted", "rejected")]
    gate = decisions[-1] if decisions else {"event": "pending", "reason": model.status_reason}
    if rival is None:
        return {"rival": None, "gate": gate, "note": "the line had no other champion"}
    base: dict[str, Any] = {
        "rival": rival.model_version,
        "rival_status": rival.status,
        "role": "previous champion" if model.is_active else "current champion",
        "gate": gate,
    }
    if len(set(frame.labels.tolist())) < 2:
        return base | {"note": "no held-out rows with both classes that neither model saw"}
    theirs = evidence.rival_proba(rival, frame)
    if theirs is None:
        return base | {"note": f"{rival.model_version} cannot score these rows"}
    return base | sections.compare(
        labels=frame.labels,
        proba=proba,
        threshold=model.threshold,
        rival_proba=theirs,
        rival_threshold=rival.threshold,
    )
