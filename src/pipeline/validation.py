"""Daily validation: score the active model on newly labelled rows and decide on retraining.

Retrain when (a) the mean positive-class F1 over the last ``F1_WINDOW_DAYS`` is
below ``F1_SCORE_THRESHOLD``, (b) at least ``RETRAINING_SAMPLE_THRESHOLD``
labelled rows arrived that no model has been trained on, or (c) no model is
active.  A challenger rejected within ``RETRAIN_COOLDOWN_HOURS`` suppresses
(a) and (b), so an unreachable threshold cannot make the system retrain in a loop.
"""

from __future__ import annotations

import datetime as dt
import logging
from dataclasses import asdict, dataclass
from typing import Any

from sqlalchemy.orm import Session

from config.settings import get_settings
from src.data import repository as repo
from src.data.database import session_scope
from src.data.frames import load_frame
from src.data.tables import utcnow
from src.models.metrics import classification_metrics
from src.pipeline.model_lines import resolve_line
from src.pipeline.serving import predictor_for

logger = logging.getLogger(__name__)


@dataclass(frozen=True)
class ValidationDecision:
    retrain: bool
    reason: str
    model_version: str | None
    performance_id: int
    n_samples: int
    new_samples: int
    mean_f1: float | None
    metrics: dict[str, float] | None

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)


def validate(
    *,
    source: str | None = None,
    f1_threshold: float | None = None,
    sample_threshold: int | None = None,
) -> ValidationDecision:
    """Write one ``model_performance`` row and return the retraining decision with its reason."""
    settings = get_settings()
    f1_threshold = settings.f1_score_threshold if f1_threshold is None else f1_threshold
    sample_threshold = (
        settings.retraining_sample_threshold if sample_threshold is None else sample_threshold
    )
    source = resolve_line(source)
    with session_scope() as session:
        active = repo.get_active_model(session, source=source)
        metrics: dict[str, float] | None = None
        n_samples = n_positive = 0
        first_id = last_id = None
        if active is not None:
            since_id = int(active.data_snapshot["max_raw_id"])
            fresh = load_frame(source=source, min_raw_id_exclusive=since_id)
            n_samples, n_positive = len(fresh.labels), int(fresh.labels.sum())
            if n_samples:
                proba = predictor_for(active).predict_proba(fresh.features)
                metrics = classification_metrics(fresh.labels, proba, threshold=active.threshold)
                first_id, last_id = int(fresh.raw_ids.min()), int(fresh.raw_ids.max())
        trained_up_to = repo.max_trained_raw_id(session, source=source)
        new_samples = repo.count_processed_after(session, source=source, raw_id=trained_up_to)
        performance = repo.add_performance(
            session,
            model_version=active.model_version if active else None,
            source=source,
            n_samples=n_samples,
            n_positive=n_positive,
            first_raw_id=first_id,
            last_raw_id=last_id,
            new_samples=new_samples,
            **(metrics or {}),
        )
        window_scores: list[float] = []
        if active is not None:
            since = utcnow() - dt.timedelta(days=settings.f1_window_days)
            window_scores = repo.window_f1_scores(
                session, model_version=active.model_version, since=since
            )
        mean_f1 = sum(window_scores) / len(window_scores) if window_scores else None
        retrain, reason = _decide(
            has_active=active is not None,
            mean_f1=mean_f1,
            f1_threshold=f1_threshold,
            window_days=settings.f1_window_days,
            new_samples=new_samples,
            sample_threshold=sample_threshold,
        )
        if retrain and active is not None:
            cooldown = _cooldown_reason(
                session, source=source, hours=settings.retrain_cooldown_hours
            )
            if cooldown:
                retrain, reason = False, f"{reason}, but {cooldown}"
        performance.mean_f1_window, performance.retrain, performance.reason = (
            mean_f1,
            retrain,
            reason,
        )
        decision = ValidationDecision(
            retrain=retrain,
            reason=reason,
            model_version=active.model_version if active else None,
            performance_id=performance.id,
            n_samples=n_samples,
            new_samples=new_samples,
            mean_f1=mean_f1,
            metrics=metrics,
        )
    logger.info("validation: %s (retrain=%s)", reason, retrain)
    return decision


def _decide(
    *,
    has_active: bool,
    mean_f1: float | None,
    f1_threshold: float,
    window_days: int,
    new_samples: int,
    sample_threshold: int,
) -> tuple[bool, str]:
    """The pure retraining rule; F1 is the positive (default) class's F1."""
    if not has_active:
        return True, "no active model"
    if mean_f1 is not None and mean_f1 < f1_threshold:
        return True, f"{window_days}-day mean F1 (default class) {mean_f1:.3f} < {f1_threshold:.3f}"
    if new_samples >= sample_threshold:
        return True, f"{new_samples} new labelled rows >= {sample_threshold}"
    f1_text = "no labelled rows yet" if mean_f1 is None else f"{mean_f1:.3f} >= {f1_threshold:.3f}"
    return False, (
        f"{window_days}-day mean F1 (default class): {f1_text}; "
        f"{new_samples} new labelled rows < {sample_threshold}"
    )


def _cooldown_reason(session: Session, *, source: str, hours: float) -> str | None:
    if hours <= 0:
        return None
    last = repo.last_event(session, event="rejected", source=source)
    if last is None:
        return None
    created = last.created_at if last.created_at.tzinfo else last.created_at.replace(tzinfo=dt.UTC)
    age = utcnow() - created
    if age < dt.timedelta(hours=hours):
        return (
            f"cooldown: challenger {last.model_version} was rejected "
            f"{age.total_seconds() / 3600:.1f} h ago (< {hours:g} h)"
        )
    return None
