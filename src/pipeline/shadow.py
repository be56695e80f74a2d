"""Naming a line's shadow model, and the live-agreement report of a shadow with its champion.

``loan-default shadow VERSION`` stores the choice in ``loan_data.shadow_models``: every API
replica's poller picks it up (docs/shadow.md).  The report pairs each shadow score with the
champion answer it mirrors (``src.data.shadow_repository``) and summarises them
(``src.models.shadow_summary``); ``deploy`` shows it, and its gate can require
``SHADOW_MIN_SAMPLES`` shadow-scored applications first.
"""

from __future__ import annotations

import datetime as dt
import logging
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.orm import Session, aliased

from config.settings import get_settings
from src.data import repository as repo
from src.data import shadow_repository as shadows
from src.data.database import session_scope
from src.data.tables import SHADOW, Prediction
from src.exceptions import ModelNotFoundError, PromotionError
from src.models.shadow_summary import summarise
from src.pipeline.model_lines import resolve_line

logger = logging.getLogger(__name__)


def name_shadow(*, model_version: str) -> str:
    """Make ``model_version`` its line's shadow; returns the line.  Refuses the champion and
    artifacts that fail verification (the servers would only fail to load them)."""
    from src.pipeline.serving import predictor_for

    with session_scope() as session:
        model = repo.get_model(session, version=model_version)
        if model.is_active:
            raise PromotionError(
                f"model {model_version} is the champion of line {model.source!r}; "
                "a shadow must be another version"
            )
        predictor_for(model)  # ArtifactIntegrityError for altered bytes
        shadows.name_shadow(session, source=model.source, version=model_version)
        repo.record_event(
            session,
            event="shadow_named",
            model_version=model_version,
            detail={"source": model.source},
        )
        return model.source


def stop_shadow(*, source: str | None = None) -> str | None:
    """Withdraw the named shadow of a line; returns the version it was (None: none named)."""
    line = resolve_line(source)
    with session_scope() as session:
        previous = shadows.clear_shadow(session, source=line)
        if previous is not None:
            repo.record_event(
                session, event="shadow_stopped", model_version=previous, detail={"source": line}
            )
        return previous


def _paired_champion(session: Session, shadow_version: str) -> str | None:
    """The champion version most of ``shadow_version``'s scores were paired with."""
    champion, shadow = aliased(Prediction), aliased(Prediction)
    stmt = (
        select(champion.model_version, func.count())
        .select_from(shadow)
        .join(champion, champion.prediction_id == shadow.champion_prediction_id)
        .where(shadow.role == SHADOW, shadow.model_version == shadow_version)
        .group_by(champion.model_version)
        .order_by(func.count().desc())
        .limit(1)
    )
    row = session.execute(stmt).first()
    return None if row is None else str(row[0])


def shadow_report(
    *,
    model_version: str | None = None,
    source: str | None = None,
    since: dt.datetime | None = None,
) -> dict[str, Any]:
    """Live agreement of a shadow with the champion it was paired with.

    ``model_version`` defaults to the line's named shadow, else its newest candidate.  The
    champion is the version most of its scores were paired with (after a promotion, the one
    it replaced), so the report reads the same before and after ``deploy``.
    """
    with session_scope() as session:
        if model_version is None:
            line = resolve_line(source)
            target = shadows.shadow_target(session, source=line, newest_candidate=True)
            if target is None:
                raise ModelNotFoundError(
                    f"model line {line!r} has no shadow: name one with `loan-default shadow "
                    "VERSION` or train a candidate"
                )
            model_version = target.model_version
        shadow = repo.get_model(session, version=model_version, with_artifact=False)
        report = _report(
            session,
            shadow=shadow.model_version,
            threshold=shadow.threshold,
            source=shadow.source,
            since=since,
        )
    return report


def _report(
    session: Session, *, shadow: str, threshold: float, source: str, since: dt.datetime | None
) -> dict[str, Any]:
    settings = get_settings()
    champion_version = _paired_champion(session, shadow) or repo.get_active_version(
        session, source=source
    )
    report: dict[str, Any] = {
        "shadow_version": shadow,
        "champion_version": champion_version,
        "source": source,
        "since": since.isoformat() if since else None,
        "n_shadow_scored": shadows.count_shadow_rows(session, model_version=shadow, since=since),
        "min_samples": settings.shadow_min_samples,
    }
    if champion_version is None:
        return report | {"n_pairs": 0, "note": f"model line {source!r} has no champion"}
    champion = repo.get_model(session, version=champion_version, with_artifact=False)
    pairs = shadows.shadow_pairs(
        session, shadow_version=shadow, champion_version=champion_version, since=since
    )
    report["first_at"] = pairs.first_at.isoformat() if pairs.first_at else None
    report["last_at"] = pairs.last_at.isoformat() if pairs.last_at else None
    report["thresholds"] = {"champion": champion.threshold, "shadow": threshold}
    return report | summarise(
        champion_proba=pairs.champion_proba,
        shadow_proba=pairs.shadow_proba,
        champion_pred=pairs.champion_pred,
        shadow_pred=pairs.shadow_pred,
        labels=pairs.labels,
        application_ids=pairs.application_ids,
        champion_threshold=champion.threshold,
        shadow_threshold=threshold,
    )


def shadow_gate(session: Session, *, candidate: str) -> tuple[bool, int, str]:
    """(passes, count, reason) of the ``SHADOW_MIN_SAMPLES`` rule for ``candidate``."""
    needed = get_settings().shadow_min_samples
    count = shadows.count_shadow_rows(session, model_version=candidate)
    if needed <= 0 or count >= needed:
        return True, count, f"{count} shadow-scored applications"
    return (
        False,
        count,
        (
            f"not promoted yet: SHADOW_MIN_SAMPLES={needed} requires {needed} shadow-scored "
            f"applications of {candidate}, it has {count} (serve it as the shadow: SHADOW_MODE=on "
            f"or `loan-default shadow {candidate}`); it stays a candidate: deploy it again then"
        ),
    )
