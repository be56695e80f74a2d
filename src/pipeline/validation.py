"""Daily validation: measure the active model, evaluate every retraining rule, decide.

The reference design's rule (7-day mean F1 below ``F1_SCORE_THRESHOLD``) and its sample
count are kept, beside the monitoring rules of ``src.pipeline.retraining_rules`` (relative
performance drop, score PSI, features in "act").  Every rule is stored with its value and
threshold in ``model_performance.details`` so the decision can be replayed.  A challenger
rejected within ``RETRAIN_COOLDOWN_HOURS`` suppresses every rule but "no active model", so an
unreachable threshold cannot make the system retrain in a loop.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import logging
from dataclasses import asdict, dataclass
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from config.settings import get_settings
from src.data import monitoring_repository as mon
from src.data import repository as repo
from src.data.database import session_scope
from src.data.frames import load_frame
from src.data.monitoring_tables import SCORE
from src.data.tables import DriftMetric, ModelMetadata, ModelPerformance, utcnow
from src.models.drift import drift_status
from src.models.metrics import classification_metrics
from src.pipeline.model_lines import resolve_line
from src.pipeline.monitoring import monitor
from src.pipeline.retraining_rules import (
    Evidence,
    Observed,
    RetrainingPolicy,
    ScoreDrift,
    evaluate_rules,
    summarise,
)
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
    monitoring_run: str | None = None
    rules: tuple[dict[str, Any], ...] = ()

    def as_dict(self) -> dict[str, Any]:
        return asdict(self) | {"rules": list(self.rules)}


def validate(
    *,
    source: str | None = None,
    monitoring_run: str | None = None,
    since: dt.datetime | None = None,
    **thresholds: Any,
) -> ValidationDecision:
    """Write the ``collected`` performance row with the decision, and return the decision.

    ``monitoring_run`` names the run of ``src.pipeline.monitoring.monitor`` whose drift and
    live performance the decision uses (the DAG's monitoring task); without it, monitoring
    runs first (over the live predictions made ``since`` then, if given).  ``thresholds``
    override the settings per call (``f1_threshold``, ``sample_threshold``,
    ``performance_drop_ratio``, ``psi_act_threshold`` ... see ``RetrainingPolicy``).
    """
    settings = get_settings()
    policy = RetrainingPolicy.from_settings(settings, **thresholds)
    source = resolve_line(source)
    if monitoring_run is None:
        monitoring_run = monitor(source=source, since=since).monitoring_run
    with session_scope() as session:
        active = repo.get_active_model(session, source=source)
        performance, metrics = _evaluate_collected(session, active=active, source=source)
        performance.monitoring_run = monitoring_run
        mean_f1 = None
        if active is not None:
            since = utcnow() - dt.timedelta(days=policy.f1_window_days)
            scores = mon.realised_f1_scores(
                session, model_version=active.model_version, since=since
            )
            mean_f1 = sum(scores) / len(scores) if scores else None
        evidence = _evidence(
            session,
            active=active,
            run=monitoring_run,
            policy=policy,
            collected=performance,
            mean_f1=mean_f1,
        )
        rules = evaluate_rules(evidence, policy)
        retrain, reason = summarise(rules)
        if retrain and active is not None:
            cooldown = _cooldown_reason(session, source=source, hours=policy.cooldown_hours)
            if cooldown:
                retrain, reason = False, f"{reason}; but {cooldown}"
        rule_rows = tuple(r.as_dict() for r in rules)
        performance.mean_f1_window, performance.retrain, performance.reason = (
            mean_f1,
            retrain,
            reason,
        )
        performance.details = {"rules": list(rule_rows), "policy": dataclasses.asdict(policy)}
        decision = ValidationDecision(
            retrain=retrain,
            reason=reason,
            model_version=active.model_version if active else None,
            performance_id=performance.id,
            n_samples=performance.n_samples,
            new_samples=performance.new_samples,
            mean_f1=mean_f1,
            metrics=metrics,
            monitoring_run=monitoring_run,
            rules=rule_rows,
        )
    logger.info("validation: %s (retrain=%s)", reason, retrain)
    return decision


def _evaluate_collected(
    session: Session, *, active: ModelMetadata | None, source: str
) -> tuple[ModelPerformance, dict[str, float] | None]:
    """The reference design's validation: the active model on rows collected since training."""
    metrics: dict[str, float] | None = None
    n_samples = n_positive = 0
    span: dict[str, int] = {}  # the raw ids scored, when any
    if active is not None:
        since_id = int(active.data_snapshot["max_raw_id"])
        fresh = load_frame(source=source, min_raw_id_exclusive=since_id)
        n_samples, n_positive = len(fresh.labels), int(fresh.labels.sum())
        if n_samples:
            proba = predictor_for(active).predict_proba(fresh.features)
            metrics = classification_metrics(fresh.labels, proba, threshold=active.threshold)
            span = {
                "first_raw_id": int(fresh.raw_ids.min()),
                "last_raw_id": int(fresh.raw_ids.max()),
            }
    trained_up_to = repo.max_trained_raw_id(session, source=source)
    new_samples = repo.count_processed_after(session, source=source, raw_id=trained_up_to)
    row = repo.add_performance(
        session,
        model_version=active.model_version if active else None,
        source=source,
        population="collected",
        n_samples=n_samples,
        n_positive=n_positive,
        new_samples=new_samples,
        **span,
        **(metrics or {}),
    )
    return row, metrics


def _evidence(
    session: Session,
    *,
    active: ModelMetadata | None,
    run: str,
    policy: RetrainingPolicy,
    collected: ModelPerformance,
    mean_f1: float | None,
) -> Evidence:
    """What the rules look at: this run's performance rows and drift, re-banded by ``policy``."""
    if active is None:
        return Evidence(has_active=False, new_samples=collected.new_samples)
    live = session.scalars(
        select(ModelPerformance).where(
            ModelPerformance.monitoring_run == run, ModelPerformance.population == "live"
        )
    ).all()
    observed = [
        Observed(row.population, row.estimated, row.n_samples, _metrics_of(row))
        for row in (collected, *live)
        if row.n_samples >= policy.min_samples
    ]
    drift_rows = session.scalars(
        select(DriftMetric).where(
            DriftMetric.monitoring_run == run, DriftMetric.model_version == active.model_version
        )
    ).all()
    score_drift, features_in_act = [], {}
    for population in sorted({row.population for row in drift_rows}):
        rows = [row for row in drift_rows if row.population == population]
        features_in_act[population] = [
            row.feature for row in rows if row.feature != SCORE and _status(row, policy) == "act"
        ]
        for row in rows:
            if row.feature == SCORE:
                score_drift.append(
                    ScoreDrift(
                        population,
                        row.psi,
                        row.psi_null_p99,
                        _status(row, policy),
                        policy.psi_act_threshold,
                    )
                )
    test_metrics = {k: getattr(active, k) for k in ("f1_score", "roc_auc")}
    return Evidence(
        has_active=True,
        mean_f1=mean_f1,
        new_samples=collected.new_samples,
        test_metrics={k: float(v) for k, v in test_metrics.items() if v is not None},
        observed=observed,
        score_drift=score_drift,
        features_in_act=features_in_act,
    )


def _status(row: DriftMetric, policy: RetrainingPolicy) -> str:
    return drift_status(
        row.psi,
        null_p99=row.psi_null_p99,
        investigate=policy.psi_investigate_threshold,
        act=policy.psi_act_threshold,
    )


def _metrics_of(row: ModelPerformance) -> dict[str, float]:
    values = {k: getattr(row, k) for k in ("f1_score", "roc_auc")}
    return {k: float(v) for k, v in values.items() if v is not None}


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
