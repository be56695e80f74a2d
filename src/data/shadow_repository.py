"""Keyword-only data access for shadow scoring: which version shadows a line, and its pairs.

A shadow row (``predictions.role = 'shadow'``) names the champion answer it mirrors
(``champion_prediction_id``); the pair of the two rows is what the shadow report compares.
Outcomes join by ``application_id``, as for the champion's own monitoring.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

import numpy as np
from sqlalchemy import delete, func, select
from sqlalchemy.orm import Session, aliased

from src.data.monitoring_tables import Outcome
from src.data.tables import SHADOW, ModelMetadata, Prediction, ShadowModel, utcnow


def named_shadow(session: Session, *, source: str) -> str | None:
    """The version ``loan-default shadow`` named for the line (None: none named)."""
    row = session.get(ShadowModel, source)
    return None if row is None else row.model_version


def name_shadow(session: Session, *, source: str, version: str) -> None:
    """Name ``version`` the line's shadow (replacing any other)."""
    row = session.get(ShadowModel, source)
    if row is None:
        session.add(ShadowModel(source=source, model_version=version, named_at=utcnow()))
    else:
        row.model_version, row.named_at = version, utcnow()
    session.flush()


def clear_shadow(session: Session, *, source: str) -> str | None:
    """Withdraw the line's named shadow; returns the version it was."""
    previous = named_shadow(session, source=source)
    session.execute(delete(ShadowModel).where(ShadowModel.source == source))
    return previous


def shadow_target(session: Session, *, source: str, newest_candidate: bool) -> ModelMetadata | None:
    """The model that should shadow the line now (without artifact), or None.

    The named version if any, else (``newest_candidate``: ``SHADOW_MODE=on``) the line's
    newest candidate.  Never the champion itself: a promoted shadow stops being one.
    """
    version = named_shadow(session, source=source)
    if version is not None:
        stmt = select(ModelMetadata).where(ModelMetadata.model_version == version)
    elif newest_candidate:
        stmt = (
            select(ModelMetadata)
            .where(ModelMetadata.source == source, ModelMetadata.status == "candidate")
            .order_by(ModelMetadata.id.desc())
            .limit(1)
        )
    else:
        return None
    row = session.scalars(stmt).one_or_none()
    return None if row is None or row.is_active else row


def count_shadow_rows(
    session: Session, *, model_version: str, since: dt.datetime | None = None
) -> int:
    """How many records ``model_version`` has shadow-scored (since ``since``)."""
    stmt = select(func.count()).where(
        Prediction.model_version == model_version, Prediction.role == SHADOW
    )
    if since is not None:
        stmt = stmt.where(Prediction.created_at >= since)
    return int(session.scalar(stmt) or 0)


@dataclass(frozen=True)
class ShadowPairs:
    """Aligned arrays (n,) of the champion's and the shadow's scores of the same records.

    ``labels`` holds the outcome of each pair, -1 where none is recorded (or no id to join).
    """

    champion_proba: np.ndarray
    champion_pred: np.ndarray
    shadow_proba: np.ndarray
    shadow_pred: np.ndarray
    labels: np.ndarray
    application_ids: list[str | None]
    first_at: dt.datetime | None
    last_at: dt.datetime | None

    def __len__(self) -> int:
        return len(self.shadow_proba)


def shadow_pairs(
    session: Session,
    *,
    shadow_version: str,
    champion_version: str,
    since: dt.datetime | None = None,
) -> ShadowPairs:
    """Every shadow score of ``shadow_version`` paired with ``champion_version``'s answer."""
    champion = aliased(Prediction)
    shadow = aliased(Prediction)
    stmt = (
        select(
            champion.probability,
            champion.prediction,
            shadow.probability,
            shadow.prediction,
            Outcome.label,
            shadow.application_id,
            shadow.created_at,
        )
        .select_from(shadow)
        .join(champion, champion.prediction_id == shadow.champion_prediction_id)
        .outerjoin(Outcome, Outcome.application_id == shadow.application_id)
        .where(
            shadow.role == SHADOW,
            shadow.model_version == shadow_version,
            champion.model_version == champion_version,
        )
        .order_by(shadow.id)
    )
    if since is not None:
        stmt = stmt.where(shadow.created_at >= since)
    rows = session.execute(stmt).all()
    times = [r[6] for r in rows]
    return ShadowPairs(
        champion_proba=np.array([r[0] for r in rows], dtype=float),
        champion_pred=np.array([r[1] for r in rows], dtype=int),
        shadow_proba=np.array([r[2] for r in rows], dtype=float),
        shadow_pred=np.array([r[3] for r in rows], dtype=int),
        labels=np.array([-1 if r[4] is None else r[4] for r in rows], dtype=int),
        application_ids=[r[5] for r in rows],
        first_at=min(times) if times else None,
        last_at=max(times) if times else None,
    )
