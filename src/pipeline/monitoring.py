"""Post-deployment monitoring of a line's active model: drift, realised and estimated performance.

One call measures, for a monitoring run (a uuid shared by every row it writes):

* drift of the score and of every feature (``drift_metrics``), on the live predictions of the
  last ``DRIFT_WINDOW_DAYS`` and on the rows collected since the model's training snapshot;
* the **estimated** performance (CBPE, from the calibrated probabilities) of the recent
  predictions that have no outcome yet;
* the **realised** performance of the matured cohort: predictions made in the
  ``DRIFT_WINDOW_DAYS`` before ``now - OUTCOME_WINDOW_DAYS``, joined to ``outcomes`` by
  ``application_id``.  Its missing outcomes are counted and reported, never taken as "good",
  and the CBPE estimate on the very same rows is stored beside it: the gap between the two
  is the one signal of concept drift.

``src.pipeline.validation`` then turns the run's rows into the retraining decision.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import logging
import math
import uuid
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy.orm import Session

from config.settings import get_settings
from src.data import monitoring_repository as mon
from src.data import repository as repo
from src.data.database import session_scope
from src.data.tables import ModelMetadata, utcnow
from src.models.cbpe import bootstrap_f1_se, estimate_metrics
from src.models.metrics import classification_metrics
from src.pipeline.drift import POPULATIONS, DriftReport, ensure_profile, measure_drift
from src.pipeline.model_lines import resolve_line

logger = logging.getLogger(__name__)


@dataclass(frozen=True)
class PerformanceSummary:
    """One ``model_performance`` row this run wrote for the live population."""

    performance_id: int
    estimated: bool
    window_start: dt.datetime
    window_end: dt.datetime
    n: int
    metrics: dict[str, float]
    f1_se: float | None = None
    missing_outcomes: int = 0
    gap: dict[str, float] = field(default_factory=dict)  # realised - estimated, same rows


@dataclass(frozen=True)
class MonitoringResult:
    monitoring_run: str
    source: str
    model_version: str | None
    computed_at: dt.datetime
    drift: list[DriftReport] = field(default_factory=list)
    performance: list[PerformanceSummary] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)


def monitor(
    *,
    source: str | None = None,
    now: dt.datetime | None = None,
    drift_window_days: int | None = None,
    outcome_window_days: int | None = None,
    since: dt.datetime | None = None,
) -> MonitoringResult:
    """Measure the active model of ``source``'s line; returns what was written, with notes.

    ``since`` narrows the live window to predictions made from then on (e.g. since a
    marketing campaign started) instead of the last ``DRIFT_WINDOW_DAYS``.
    """
    settings = get_settings()
    days = settings.drift_window_days if drift_window_days is None else drift_window_days
    matured = settings.outcome_window_days if outcome_window_days is None else outcome_window_days
    now = now or utcnow()
    source = resolve_line(source)
    run = str(uuid.uuid4())
    with session_scope() as session:
        model = repo.get_active_model(session, source=source)
        if model is None:
            note = f"line {source!r} has no active model: nothing to monitor"
            logger.info("monitoring: %s", note)
            return MonitoringResult(run, source, None, now, notes=[note])
        ensure_profile(session, model=model)
        start = now - dt.timedelta(days=days) if since is None else since
        drift = [
            measure_drift(
                session,
                model=model,
                population=population,
                window_start=start,
                window_end=now,
                monitoring_run=run,
            )
            for population in POPULATIONS
        ]
        notes = [d.note for d in drift if d.note]
        performance: list[PerformanceSummary] = []
        estimate = _estimate_recent(session, model=model, run=run, start=start, end=now)
        cohort_end = now - dt.timedelta(days=matured)
        realised = _realise_cohort(
            session,
            model=model,
            run=run,
            start=cohort_end - dt.timedelta(days=days),
            end=cohort_end,
        )
        for found, remark in (estimate, realised):
            if found is not None:
                performance.append(found)
            if remark:
                notes.append(remark)
    for note in notes:
        logger.info("monitoring %s: %s", model.model_version, note)
    return MonitoringResult(run, source, model.model_version, now, drift, performance, notes)


def _estimate_recent(
    session: Session, *, model: ModelMetadata, run: str, start: dt.datetime, end: dt.datetime
) -> tuple[PerformanceSummary | None, str | None]:
    """CBPE over the window's predictions that have no outcome yet."""
    pending = mon.unlabelled_predictions(
        session, model_version=model.model_version, start=start, end=end
    )
    if len(pending) == 0:
        return (
            None,
            f"no predictions without an outcome {_span(start, end)}",
        )
    metrics = estimate_metrics(pending.probabilities, threshold=model.threshold)
    expected_defaults = float(pending.probabilities.sum())
    summary = PerformanceSummary(0, True, start, end, len(pending), metrics)
    reason = "CBPE estimate from calibrated probabilities (outcomes not known yet)"
    details = {"method": "CBPE", "expected_defaults": expected_defaults}
    return _store_live(
        session, summary, model, run, round(expected_defaults), reason, details
    ), None


def _realise_cohort(
    session: Session, *, model: ModelMetadata, run: str, start: dt.datetime, end: dt.datetime
) -> tuple[PerformanceSummary | None, str | None]:
    """Realised metrics of the matured cohort, its missing outcomes, and the CBPE gap."""
    version = model.model_version
    labelled = mon.labelled_predictions(session, model_version=version, start=start, end=end)
    missing = len(mon.unlabelled_predictions(session, model_version=version, start=start, end=end))
    window = _span(start, end)
    note = f"{missing} matured predictions {window} have no recorded outcome" if missing else None
    if len(labelled) == 0:
        if not missing:
            return None, f"no matured predictions {window}"
        metrics: dict[str, float] = {}
        se, gap = None, {}
        details: dict[str, Any] = {"note": note}
    else:
        assert labelled.labels is not None
        metrics = classification_metrics(
            labelled.labels, labelled.probabilities, threshold=model.threshold
        )
        se = bootstrap_f1_se(labelled.labels, labelled.probabilities >= model.threshold)
        estimated = estimate_metrics(labelled.probabilities, threshold=model.threshold)
        gap = {
            k: metrics[k] - estimated[k]
            for k in ("f1_score", "roc_auc")
            if math.isfinite(metrics[k]) and math.isfinite(estimated[k])
        }
        details = {"estimate_on_same_rows": _finite(estimated), "gap": gap, "f1_se": se}
    summary = PerformanceSummary(0, False, start, end, len(labelled), metrics, se, missing, gap)
    positives = int(labelled.labels.sum()) if labelled.labels is not None else 0
    reason = f"realised on {len(labelled)} predictions joined to outcomes by application_id"
    return _store_live(session, summary, model, run, positives, reason, details), note


def _store_live(
    session: Session,
    summary: PerformanceSummary,
    model: ModelMetadata,
    run: str,
    n_positive: int,
    reason: str,
    details: dict[str, Any],
) -> PerformanceSummary:
    """Write ``summary`` as a ``model_performance`` row of the live population; with its id."""
    row = repo.add_performance(
        session,
        model_version=model.model_version,
        source=model.source,
        population="live",
        estimated=summary.estimated,
        window_start=summary.window_start,
        window_end=summary.window_end,
        n_samples=summary.n,
        n_positive=n_positive,
        f1_se=summary.f1_se,
        missing_outcomes=summary.missing_outcomes,
        monitoring_run=run,
        reason=reason,
        details=details,
        **_finite(summary.metrics),
    )
    return dataclasses.replace(summary, performance_id=row.id)


def _finite(metrics: dict[str, float]) -> dict[str, Any]:
    """NaN (an undefined metric) is stored as NULL, and JSON cannot hold it anyway."""
    return {k: (v if math.isfinite(v) else None) for k, v in metrics.items()}


def _span(start: dt.datetime, end: dt.datetime) -> str:
    return f"between {start:%Y-%m-%d %H:%M} and {end:%Y-%m-%d %H:%M} UTC"
