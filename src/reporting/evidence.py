"""What a model report reads from the database: held-out scores, history, logged decisions.

The I/O edge of ``src.reporting``: everything here returns plain arrays or dicts for the pure
``quant`` functions and the card.  Held-out rows are recomputed exactly as the deployment
gate chooses them (``unseen_by_both``), so the report's comparison is the gate's comparison.
"""

from __future__ import annotations

import logging
from collections import Counter
from typing import Any

import numpy as np
from sqlalchemy import select
from sqlalchemy.orm import Session

from src.data import repository as repo
from src.data.frames import LabelledFrame, load_frame, records_to_frame
from src.data.tables import (
    CHAMPION,
    DriftMetric,
    ModelEvent,
    ModelMetadata,
    ModelPerformance,
    Prediction,
)
from src.exceptions import ArtifactIntegrityError, InvalidInputError, LoanDefaultError
from src.models.predictor import Predictor
from src.pipeline.serving import predictor_for
from src.pipeline.splits import test_mask, unseen_by_both

logger = logging.getLogger(__name__)

# Reason codes are not logged with predictions; the report recomputes them for this many of
# the newest logged decisions of the model (occlusion costs one forward row per feature).
REASON_SAMPLE = 200


def report_rows(model: ModelMetadata, rival: ModelMetadata | None) -> LabelledFrame:
    """The line's processed rows up to the newer of the two snapshots (loaded once)."""
    newest = int(model.data_snapshot["max_raw_id"])
    if rival is not None:
        newest = max(newest, int(rival.data_snapshot["max_raw_id"]))
    return load_frame(source=model.source, max_raw_id=newest)


def held_out_mask(frame: LabelledFrame, model: ModelMetadata) -> np.ndarray:
    """The model's own test rows, as its training split them (a hash of the row key)."""
    snapshot = model.data_snapshot
    in_test = test_mask(frame, source=model.source, test_fraction=float(snapshot["test_fraction"]))
    return in_test & (frame.raw_ids <= int(snapshot["max_raw_id"]))


def comparison_mask(frame: LabelledFrame, model: ModelMetadata, rival: ModelMetadata) -> np.ndarray:
    """Rows neither model trained on: the deployment gate's rows."""
    snapshots = (model.data_snapshot, rival.data_snapshot)
    return unseen_by_both(frame, source=model.source, snapshots=snapshots)


def rival_proba(rival: ModelMetadata, frame: LabelledFrame) -> np.ndarray | None:
    """The rival's probabilities, or None when its artifact cannot score these rows."""
    try:
        return predictor_for(rival).predict_proba(frame.features)
    except (ArtifactIntegrityError, InvalidInputError) as exc:
        logger.warning("report: %s cannot score the comparison rows: %s", rival.model_version, exc)
        return None


def rival_for(session: Session, model: ModelMetadata) -> ModelMetadata | None:
    """The model to compare against: the line's champion, or, for the champion itself, the
    champion it replaced (from its ``promoted`` event)."""
    if not model.is_active:
        return repo.get_active_model(session, source=model.source)
    promoted = session.scalars(
        select(ModelEvent)
        .where(ModelEvent.model_version == model.model_version, ModelEvent.event == "promoted")
        .order_by(ModelEvent.id.desc())
        .limit(1)
    ).first()
    replaced = (promoted.detail or {}).get("replaced") if promoted else None
    return repo.get_model(session, version=replaced) if replaced else None


def events(session: Session, *, version: str) -> list[dict[str, Any]]:
    rows = session.scalars(
        select(ModelEvent).where(ModelEvent.model_version == version).order_by(ModelEvent.id)
    ).all()
    return [
        {
            "at": row.created_at.isoformat(),
            "event": row.event,
            "success": row.success,
            "reason": (row.detail or {}).get("reason") or (row.detail or {}).get("error"),
            "by": (row.detail or {}).get("by") or _actor(row.event),
        }
        for row in rows
    ]


def _actor(event: str) -> str:
    """Who acts on each event today: registration and the gate are the pipeline's."""
    return {
        "registered": "training pipeline (register stage)",
        "rejected": "champion/challenger gate",
        "promoted": "champion/challenger gate or `loan-default activate`",
        "promotion_failed": "activation",
    }.get(event, "-")


def performance_history(session: Session, *, version: str) -> list[dict[str, Any]]:
    rows = session.scalars(
        select(ModelPerformance)
        .where(ModelPerformance.model_version == version)
        .order_by(ModelPerformance.evaluated_at, ModelPerformance.id)
    ).all()
    return [
        {
            "at": row.evaluated_at.isoformat(),
            "population": row.population,
            "estimated": row.estimated,
            "n_samples": row.n_samples,
            "f1_score": _finite(row.f1_score),
            "roc_auc": _finite(row.roc_auc),
            "ks": _finite(row.ks),
            "ece": _finite(row.ece),
            "retrain": row.retrain,
        }
        for row in rows
    ]


def drift_history(session: Session, *, version: str) -> list[dict[str, Any]]:
    rows = session.execute(
        select(
            DriftMetric.computed_at,
            DriftMetric.population,
            DriftMetric.feature,
            DriftMetric.psi,
            DriftMetric.status,
        )
        .where(DriftMetric.model_version == version)
        .order_by(DriftMetric.computed_at, DriftMetric.id)
    ).all()
    return [
        {"at": at.isoformat(), "population": pop, "feature": f, "psi": _finite(psi), "status": s}
        for at, pop, f, psi, s in rows
    ]


def reason_summary(session: Session, model: ModelMetadata, predictor: Predictor) -> dict[str, Any]:
    """How often each feature is a decision's top reason, over the newest logged decisions.

    Predictions are logged without their reasons, so they are recomputed here with the same
    model and the same occlusion method ``explain=true`` uses.
    """
    records = session.scalars(
        select(Prediction.features)
        .where(Prediction.model_version == model.model_version, Prediction.role == CHAMPION)
        .order_by(Prediction.id.desc())
        .limit(REASON_SAMPLE)
    ).all()
    result: dict[str, Any] = {"sample": len(records), "recomputed": True, "features": []}
    if not records:
        return result
    try:
        frame = records_to_frame(list(records), predictor.schema)
    except LoanDefaultError as exc:
        result["error"] = str(exc)
        return result
    top_one: Counter[str] = Counter()
    in_top_three: Counter[str] = Counter()
    effects: dict[str, list[float]] = {}
    for reasons in predictor.explain(frame, top_k=3):
        if reasons:
            top_one[reasons[0]["feature"]] += 1
        for reason in reasons:
            in_top_three[reason["feature"]] += 1
            effects.setdefault(reason["feature"], []).append(float(reason["effect"]))
    for feature, count in in_top_three.most_common(10):
        result["features"].append(
            {
                "feature": feature,
                "top_reason": top_one[feature],
                "in_top_three": count,
                "mean_effect": float(np.mean(effects[feature])),
            }
        )
    return result


def _finite(value: float | None) -> float | None:
    return None if value is None or not np.isfinite(value) else float(value)
