"""Keyword-only data access for monitoring: live predictions joined to outcomes, the latest
drift and performance of a model.

Predictions are joined to ``outcomes`` by ``application_id``.  An application scored more
than once by the same model counts once, by its latest prediction (a re-scored application
is one loan, and one outcome).  A prediction without an ``application_id`` can never meet its
outcome: it is counted as unlabelled, for the estimate, and never as realised.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
from sqlalchemy import ColumnElement, CompoundSelect, and_, func, or_, select
from sqlalchemy.orm import Session

from src.data.monitoring_tables import DriftMetric, Outcome
from src.data.tables import CHAMPION, ModelPerformance, Prediction


@dataclass(frozen=True)
class LivePredictions:
    """Probabilities (n,), decisions (n,) and, for the labelled ones, outcomes (n,)."""

    probabilities: np.ndarray
    predictions: np.ndarray
    labels: np.ndarray | None  # None for the unlabelled set

    def __len__(self) -> int:
        return len(self.probabilities)


def _window(model_version: str, start: dt.datetime, end: dt.datetime) -> list[ColumnElement[bool]]:
    return [
        Prediction.model_version == model_version,
        Prediction.role == CHAMPION,  # shadow scores were never answers (docs/shadow.md)
        Prediction.created_at >= start,
        Prediction.created_at < end,
    ]


def _latest_per_application(
    model_version: str, start: dt.datetime, end: dt.datetime
) -> CompoundSelect:
    """Prediction ids to keep: the latest per application id, and every id-less one."""
    latest = (
        select(func.max(Prediction.id))
        .where(*_window(model_version, start, end), Prediction.application_id.is_not(None))
        .group_by(Prediction.application_id)
    )
    anonymous = select(Prediction.id).where(
        *_window(model_version, start, end), Prediction.application_id.is_(None)
    )
    return latest.union_all(anonymous)


def labelled_predictions(
    session: Session, *, model_version: str, start: dt.datetime, end: dt.datetime
) -> LivePredictions:
    """The window's predictions whose application has a recorded outcome."""
    keep = _latest_per_application(model_version, start, end).subquery()
    stmt = (
        select(Prediction.probability, Prediction.prediction, Outcome.label)
        .join(Outcome, Outcome.application_id == Prediction.application_id)
        .where(Prediction.id.in_(select(keep)))
        .order_by(Prediction.id)
    )
    rows = session.execute(stmt).all()
    return LivePredictions(
        probabilities=np.array([r[0] for r in rows], dtype=float),
        predictions=np.array([r[1] for r in rows], dtype=int),
        labels=np.array([r[2] for r in rows], dtype=int),
    )


def unlabelled_predictions(
    session: Session, *, model_version: str, start: dt.datetime, end: dt.datetime
) -> LivePredictions:
    """The window's predictions with no outcome yet (or no application id to join on)."""
    keep = _latest_per_application(model_version, start, end).subquery()
    stmt = (
        select(Prediction.probability, Prediction.prediction)
        .outerjoin(Outcome, Outcome.application_id == Prediction.application_id)
        .where(Prediction.id.in_(select(keep)), Outcome.id.is_(None))
        .order_by(Prediction.id)
    )
    rows = session.execute(stmt).all()
    return LivePredictions(
        probabilities=np.array([r[0] for r in rows], dtype=float),
        predictions=np.array([r[1] for r in rows], dtype=int),
        labels=None,
    )


def latest_drift(session: Session, *, model_version: str) -> Sequence[DriftMetric]:
    """The rows of the most recent monitoring run that measured drift for this model."""
    run = session.scalar(
        select(DriftMetric.monitoring_run)
        .where(DriftMetric.model_version == model_version)
        .order_by(DriftMetric.computed_at.desc(), DriftMetric.id.desc())
        .limit(1)
    )
    if run is None:
        return []
    stmt = (
        select(DriftMetric)
        .where(DriftMetric.monitoring_run == run, DriftMetric.model_version == model_version)
        .order_by(DriftMetric.population, DriftMetric.id)
    )
    return session.scalars(stmt).all()


def latest_performance(session: Session, *, model_version: str) -> list[ModelPerformance]:
    """The newest row of each kind (population x realised/estimated) for this model."""
    newest = (
        select(func.max(ModelPerformance.id))
        .where(ModelPerformance.model_version == model_version)
        .where(or_(ModelPerformance.n_samples > 0, ModelPerformance.estimated.is_(True)))
        .group_by(ModelPerformance.population, ModelPerformance.estimated)
    )
    stmt = select(ModelPerformance).where(ModelPerformance.id.in_(newest))
    return list(session.scalars(stmt.order_by(ModelPerformance.id)).all())


def realised_f1_scores(session: Session, *, model_version: str, since: dt.datetime) -> list[float]:
    """Realised (never estimated) F1 of the model's evaluations since ``since``."""
    stmt = select(ModelPerformance.f1_score).where(
        and_(
            ModelPerformance.model_version == model_version,
            ModelPerformance.evaluated_at >= since,
            ModelPerformance.f1_score.is_not(None),
            ModelPerformance.estimated.is_(False),
        )
    )
    return [float(v) for v in session.scalars(stmt).all() if v is not None]
