"""Keyword-only data-access functions for the registry, performance and audit log.

Everything that reads or writes ``model_metadata``, ``model_artifacts``,
``model_performance`` and ``model_events`` goes through here, so the invariants (one
active model per model line, every change audited) live in one place.  A model line is
the source a model was trained on, like an MLflow registered model with its ``@champion``.
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable, Mapping, Sequence
from typing import Any

from sqlalchemy import Engine, func, select, text, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session, selectinload

from src.data.database import is_postgres, session_scope
from src.data.tables import (
    DataSource,
    ModelArtifact,
    ModelEvent,
    ModelMetadata,
    ModelPerformance,
    ModelProfile,
    ProcessedData,
    TrainingRun,
    utcnow,
)
from src.exceptions import ModelNotFoundError, PromotionError


def _with_artifact(stmt: Any, with_artifact: bool) -> Any:
    # Rows outlive their session (expire_on_commit=False), so the bytes are loaded eagerly.
    return stmt.options(selectinload(ModelMetadata.artifact_record)) if with_artifact else stmt


def get_active_model(
    session: Session, *, source: str, with_artifact: bool = True
) -> ModelMetadata | None:
    """The champion of one model line (None if the line has no active model)."""
    stmt = select(ModelMetadata).where(
        ModelMetadata.is_active.is_(True), ModelMetadata.source == source
    )
    return session.scalars(_with_artifact(stmt, with_artifact)).one_or_none()


def get_active_version(session: Session, *, source: str) -> str | None:
    stmt = select(ModelMetadata.model_version).where(
        ModelMetadata.is_active.is_(True), ModelMetadata.source == source
    )
    return session.scalars(stmt).one_or_none()


def active_versions(session: Session) -> dict[str, str]:
    """``{source: active version}`` for every model line that has a champion."""
    rows = session.execute(
        select(ModelMetadata.source, ModelMetadata.model_version).where(
            ModelMetadata.is_active.is_(True)
        )
    ).all()
    return {source: version for source, version in rows}


def serving_line(session: Session, *, preferred: str) -> str | None:
    """The line a single-line server serves: ``preferred`` if it has a champion, else the
    only line that has one (so a laptop that collected one custom source just works)."""
    lines = active_versions(session)
    if preferred in lines:
        return preferred
    return next(iter(lines)) if len(lines) == 1 else None


def known_sources(session: Session) -> list[str]:
    """Every registered source (model line), oldest first."""
    stmt = select(DataSource.name).order_by(DataSource.created_at, DataSource.name)
    return list(session.scalars(stmt).all())


def get_model(session: Session, *, version: str, with_artifact: bool = True) -> ModelMetadata:
    stmt = select(ModelMetadata).where(ModelMetadata.model_version == version)
    model = session.scalars(_with_artifact(stmt, with_artifact)).one_or_none()
    if model is None:
        raise ModelNotFoundError(f"no model with version {version!r} in loan_data.model_metadata")
    return model


def list_models(session: Session, *, source: str | None = None) -> Sequence[ModelMetadata]:
    stmt = select(ModelMetadata).order_by(ModelMetadata.id)
    if source is not None:
        stmt = stmt.where(ModelMetadata.source == source)
    return session.scalars(stmt).all()


def newest_candidate(session: Session, *, source: str) -> ModelMetadata | None:
    stmt = (
        select(ModelMetadata)
        .where(ModelMetadata.status == "candidate", ModelMetadata.source == source)
        .order_by(ModelMetadata.id.desc())
        .limit(1)
    )
    return session.scalars(_with_artifact(stmt, True)).one_or_none()


def next_model_version(session: Session) -> str:
    """``v0001``, ``v0002`` ...: readable in psql, global across model lines.

    Callers hold the registration lock (``register_model``); the unique constraint on
    ``model_version`` stays the backstop.
    """
    last = session.scalar(select(func.max(ModelMetadata.id))) or 0
    return f"v{last + 1:04d}"


def register_model(
    session: Session,
    *,
    run: TrainingRun,
    feature_schema: dict[str, Any],
    threshold: float,
    metrics: Mapping[str, float],
    build_artifact: Callable[[str], bytes],
    profile: dict[str, Any],
    benchmark_metrics: Mapping[str, float] | None = None,
) -> ModelMetadata:
    """Insert ``run``'s model as a candidate under a fresh version, with artifact and event.

    ``metrics`` are the held-out test metrics, one per metric column (the caller selects them
    with ``src.models.metrics.METRIC_NAMES``).  A new model is never active: activation is
    ``activate_model``'s job, so the one-active-per-line invariant is kept in one place.
    The artifact embeds its own version, so ``build_artifact(version)`` runs under the
    registration lock: two concurrent registrations can never pick the same version.
    ``profile`` is the model's drift reference (``src.models.drift.build_profile``), stored in
    the same transaction so no registered model lacks one.  ``benchmark_metrics`` are the
    logistic-regression benchmark's figures on the same test rows (``src.models.baselines``);
    None leaves the column SQL NULL, as for models registered before benchmarks existed.
    """
    if is_postgres(session.get_bind()):
        session.execute(text("SELECT pg_advisory_xact_lock(hashtext('loan_data.register'))"))
    version = next_model_version(session)
    artifact = build_artifact(version)
    digest = hashlib.sha256(artifact).hexdigest()
    row = ModelMetadata(
        model_version=version,
        artifact_sha256=digest,
        artifact_size=len(artifact),
        source=run.source,
        training_run_id=run.id,
        training_config=run.config,
        feature_schema=feature_schema,
        data_snapshot=run.data_snapshot,
        pretrain_unlabelled_rows=int(run.data_snapshot.get("n_pretrain_unlabelled", 0))
        + int(run.data_snapshot.get("n_pretrain_predictions", 0)),
        threshold=threshold,
        status="candidate",
        is_active=False,
        status_reason="awaiting deployment gate",
        **{name: float(value) for name, value in metrics.items()},
    )
    if benchmark_metrics is not None:  # an explicit None would store JSON 'null', not NULL
        row.benchmark_metrics = {k: float(v) for k, v in benchmark_metrics.items()}
    row.artifact_record = ModelArtifact(
        model_version=version, artifact=artifact, sha256=digest, size=len(artifact)
    )
    session.add(row)
    session.flush()
    add_profile(session, model_version=version, profile=profile)
    detail = {
        "run_id": run.id,
        "metrics": dict(metrics),
        "benchmark_metrics": row.benchmark_metrics,
        "source": run.source,
    }
    record_event(session, event="registered", model_version=version, detail=detail)
    return row


def add_profile(session: Session, *, model_version: str, profile: dict[str, Any]) -> None:
    """Store a model's drift reference profile (at registration, or rebuilt for an old model)."""
    session.add(
        ModelProfile(model_version=model_version, n_rows=profile["n_rows"], profile=profile)
    )
    session.flush()


def get_profile(session: Session, *, model_version: str) -> dict[str, Any] | None:
    row = session.get(ModelProfile, model_version)
    return None if row is None else row.profile


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

    Only the champion of the target's own model line (source) is retired.  Returns the
    version that was retired (or None).  On PostgreSQL an advisory transaction lock per
    model line serialises concurrent activations; the partial unique index on ``source``
    is the backstop that makes two active rows of one line impossible regardless.
    """
    try:
        with session_scope(engine) as session:
            source = session.scalar(
                select(ModelMetadata.source).where(ModelMetadata.model_version == version)
            )
            if source is None:
                raise ModelNotFoundError(f"no model with version {version!r}")
            if is_postgres(engine):
                session.execute(
                    text("SELECT pg_advisory_xact_lock(hashtext('loan_data.activate:' || :s))"),
                    {"s": source},
                )
            target = session.scalars(
                select(ModelMetadata)
                .where(ModelMetadata.model_version == version)
                .with_for_update()
            ).one()
            if target.is_active:
                return None
            if target.status == "rejected":
                raise PromotionError(f"model {version} was rejected: {target.status_reason}")
            now = utcnow()
            previous = get_active_version(session, source=source)
            session.execute(
                update(ModelMetadata)
                .where(ModelMetadata.is_active.is_(True), ModelMetadata.source == source)
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
                detail={"reason": reason, "replaced": previous, "source": source},
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


def list_events(session: Session, *, limit: int = 100) -> Sequence[ModelEvent]:
    return session.scalars(select(ModelEvent).order_by(ModelEvent.id.desc()).limit(limit)).all()
