"""Keyword-only data-access functions for the registry, performance and audit log.

Everything that reads or writes ``model_metadata``, ``model_performance`` and
``model_events`` goes through here, so the invariants (one active model, every
change audited) live in one place.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence
from typing import Any

from sqlalchemy import Engine, func, select, text, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session, load_only

from src.data.database import is_postgres, session_scope
from src.data.tables import ModelEvent, ModelMetadata, ModelPerformance, ProcessedData, utcnow
from src.exceptions import ModelNotFoundError, PromotionError

# Columns that are cheap to read: everything except the artifact bytes.
_SUMMARY_COLUMNS = [c.name for c in ModelMetadata.__table__.columns if c.name != "artifact"]


def _summary_options() -> Any:
    return load_only(*(getattr(ModelMetadata, c) for c in _SUMMARY_COLUMNS))


def get_active_model(session: Session, *, with_artifact: bool = True) -> ModelMetadata | None:
    stmt = select(ModelMetadata).where(ModelMetadata.is_active.is_(True))
    if not with_artifact:
        stmt = stmt.options(_summary_options())
    return session.scalars(stmt).one_or_none()


def get_active_version(session: Session) -> str | None:
    stmt = select(ModelMetadata.model_version).where(ModelMetadata.is_active.is_(True))
    return session.scalars(stmt).one_or_none()


def get_model(session: Session, *, version: str, with_artifact: bool = True) -> ModelMetadata:
    stmt = select(ModelMetadata).where(ModelMetadata.model_version == version)
    if not with_artifact:
        stmt = stmt.options(_summary_options())
    model = session.scalars(stmt).one_or_none()
    if model is None:
        raise ModelNotFoundError(f"no model with version {version!r} in loan_data.model_metadata")
    return model


def list_models(session: Session, *, source: str | None = None) -> Sequence[ModelMetadata]:
    stmt = select(ModelMetadata).options(_summary_options()).order_by(ModelMetadata.id)
    if source is not None:
        stmt = stmt.where(ModelMetadata.source == source)
    return session.scalars(stmt).all()


def newest_candidate(session: Session) -> ModelMetadata | None:
    stmt = (
        select(ModelMetadata)
        .where(ModelMetadata.status == "candidate")
        .order_by(ModelMetadata.id.desc())
        .limit(1)
    )
    return session.scalars(stmt).one_or_none()


def next_model_version(session: Session) -> str:
    """``v0001``, ``v0002`` ...: readable in psql; uniqueness is enforced by the table."""
    last = session.scalar(select(func.max(ModelMetadata.id))) or 0
    return f"v{last + 1:04d}"


def max_trained_raw_id(session: Session, *, source: str) -> int:
    """The newest raw row any registered model of ``source`` was trained on (0 if none)."""
    snapshots = session.scalars(
        select(ModelMetadata.data_snapshot).where(ModelMetadata.source == source)
    ).all()
    return max((int(s.get("max_raw_id", 0)) for s in snapshots), default=0)


def count_processed_after(session: Session, *, source: str, raw_id: int) -> int:
    stmt = select(func.count()).where(ProcessedData.source == source, ProcessedData.raw_id > raw_id)
    return int(session.scalar(stmt) or 0)


def record_event(
    session: Session,
    *,
    event: str,
    model_version: str | None,
    success: bool = True,
    detail: dict[str, Any] | None = None,
) -> None:
    session.add(
        ModelEvent(event=event, model_version=model_version, success=success, detail=detail or {})
    )


def last_event(session: Session, *, event: str, source: str | None = None) -> ModelEvent | None:
    stmt = select(ModelEvent).where(ModelEvent.event == event).order_by(ModelEvent.id.desc())
    if source is not None:
        stmt = stmt.join(
            ModelMetadata, ModelMetadata.model_version == ModelEvent.model_version
        ).where(ModelMetadata.source == source)
    return session.scalars(stmt.limit(1)).first()


def set_status(session: Session, *, version: str, status: str, reason: str) -> None:
    """Move a non-active model to candidate/rejected/retired (activation has its own path)."""
    if status == "active":
        raise ValueError("use activate_model() to activate a model")
    session.execute(
        update(ModelMetadata)
        .where(ModelMetadata.model_version == version, ModelMetadata.is_active.is_(False))
        .values(status=status, status_reason=reason)
    )


def activate_model(engine: Engine, *, version: str, reason: str) -> str | None:
    """Make ``version`` the one active model in a single transaction.

    Returns the version that was retired (or None).  On PostgreSQL an advisory
    transaction lock serialises concurrent activations; the partial unique
    index is the backstop that makes two active rows impossible regardless.
    """
    try:
        with session_scope(engine) as session:
            if is_postgres(engine):
                session.execute(
                    text("SELECT pg_advisory_xact_lock(hashtext('loan_data.activate'))")
                )
            target = session.scalars(
                select(ModelMetadata)
                .options(_summary_options())
                .where(ModelMetadata.model_version == version)
                .with_for_update()
            ).one_or_none()
            if target is None:
                raise ModelNotFoundError(f"no model with version {version!r}")
            if target.is_active:
                return None
            if target.status == "rejected":
                raise PromotionError(f"model {version} was rejected: {target.status_reason}")
            now = utcnow()
            previous = get_active_version(session)
            session.execute(
                update(ModelMetadata)
                .where(ModelMetadata.is_active.is_(True))
                .values(
                    is_active=False,
                    status="retired",
                    retired_at=now,
                    status_reason=f"replaced by {version}",
                )
            )
            session.execute(
                update(ModelMetadata)
                .where(ModelMetadata.model_version == version)
                .values(is_active=True, status="active", activated_at=now, status_reason=reason)
            )
            record_event(
                session,
                event="promoted",
                model_version=version,
                detail={"reason": reason, "replaced": previous},
            )
            return previous
    except IntegrityError as exc:
        _record_failed_promotion(engine, version=version, error=str(exc.orig))
        raise PromotionError(
            f"activating {version} lost a race with another activation; try again"
        ) from exc


def _record_failed_promotion(engine: Engine, *, version: str, error: str) -> None:
    with session_scope(engine) as session:
        record_event(
            session,
            event="promotion_failed",
            model_version=version,
            success=False,
            detail={"error": error[:500]},
        )


def add_performance(session: Session, **values: Any) -> ModelPerformance:
    row = ModelPerformance(**values)
    session.add(row)
    session.flush()
    return row


def window_f1_scores(session: Session, *, model_version: str, since: dt.datetime) -> list[float]:
    stmt = select(ModelPerformance.f1_score).where(
        ModelPerformance.model_version == model_version,
        ModelPerformance.evaluated_at >= since,
        ModelPerformance.f1_score.is_not(None),
    )
    return [float(v) for v in session.scalars(stmt).all()]


def list_events(session: Session, *, limit: int = 100) -> Sequence[ModelEvent]:
    return session.scalars(select(ModelEvent).order_by(ModelEvent.id.desc()).limit(limit)).all()
