"""Champion/challenger gate: a candidate replaces the active model only if it wins.

Both models are scored on the same rows: the candidate's held-out test rows,
which (by the hash split) no model of the source has trained on.  With
``REQUIRE_BEAT_BENCHMARK`` the candidate must first beat its own logistic-regression
benchmark (recorded at training, on its test rows); the verdict is part of every reason.
"""

from __future__ import annotations

import logging
from dataclasses import asdict, dataclass
from typing import Any

import numpy as np

from config.settings import get_settings
from src.data import repository as repo
from src.data.database import get_engine, session_scope
from src.data.frames import load_frame
from src.data.tables import ModelMetadata
from src.exceptions import ArtifactIntegrityError, InvalidInputError, PromotionError
from src.models.metrics import classification_metrics
from src.pipeline.model_lines import resolve_line
from src.pipeline.serving import predictor_for
from src.pipeline.shadow import shadow_gate
from src.pipeline.splits import unseen_by_both
from src.pipeline.training_runs import benchmark_verdict

logger = logging.getLogger(__name__)


@dataclass(frozen=True)
class DeployResult:
    promoted: bool
    model_version: str | None
    reason: str
    champion_version: str | None = None
    challenger_score: float | None = None
    champion_score: float | None = None
    n_eval_rows: int = 0
    # Live agreement with the champion while the candidate was the shadow (src.pipeline.shadow);
    # None when it never shadowed (or the line had no champion).
    shadow: dict[str, Any] | None = None

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)


def deploy(*, model_version: str | None = None, source: str | None = None) -> DeployResult:
    """Promote ``model_version`` (default: the line's newest candidate) if it passes the gate.

    The gate compares only models of the same line (source), on that line's held-out rows.
    """
    settings = get_settings()
    engine = get_engine()
    line = None if model_version else resolve_line(source)
    with session_scope(engine) as session:
        candidate = (
            repo.get_model(session, version=model_version)
            if model_version
            else repo.newest_candidate(session, source=line or "")
        )
        if candidate is None:
            return DeployResult(
                promoted=False,
                model_version=None,
                reason=f"nothing to deploy: model line {line!r} has no candidate "
                "(train one first with `loan-default train`)",
            )
        if source and candidate.source != source:
            raise PromotionError(
                f"model {candidate.model_version} belongs to model line "
                f"{candidate.source!r}, not {source!r}"
            )
        if candidate.is_active:
            return DeployResult(
                promoted=False,
                model_version=candidate.model_version,
                reason=f"already the champion of line {candidate.source!r} "
                f"({candidate.status_reason or 'activated earlier'}); nothing to deploy",
            )
        if candidate.status == "rejected":  # re-running a deploy task is safe
            return DeployResult(
                promoted=False,
                model_version=candidate.model_version,
                reason=f"already rejected: {candidate.status_reason}",
            )
        if candidate.status != "candidate":
            raise PromotionError(
                f"model {candidate.model_version} has status {candidate.status!r}; "
                "only candidates can be deployed"
            )
        champion = repo.get_active_model(session, source=candidate.source)
        shadow_ok, shadowed, shadow_reason = shadow_gate(session, candidate=candidate.model_version)
    version = candidate.model_version
    live = _shadow_summary(version) if champion is not None and shadowed else None
    if champion is not None and not shadow_ok:  # not a rejection: more traffic will come
        logger.info("%s: %s", version, shadow_reason)
        return DeployResult(
            promoted=False,
            model_version=version,
            reason=shadow_reason,
            champion_version=champion.model_version,
            shadow=live,
        )
    try:
        challenger = predictor_for(candidate)
    except ArtifactIntegrityError as exc:
        return _reject(version, f"artifact failed verification: {exc}", champion=None)
    note = ""  # the benchmark rule's verdict, appended to whatever the gate decides
    if settings.require_beat_benchmark:
        beats, verdict = benchmark_verdict(
            roc_auc=candidate.roc_auc, benchmark=candidate.benchmark_metrics
        )
        if not beats:
            return _reject(version, verdict, champion=None)
        note = f"; {verdict}"
    if champion is None:
        reason = f"model line {candidate.source!r} had no active model{note}"
        repo.activate_model(engine, version=version, reason=reason)
        return DeployResult(promoted=True, model_version=version, reason=reason)

    metric, margin = settings.promotion_metric, settings.promotion_min_delta
    frame = load_frame(
        source=candidate.source, max_raw_id=int(candidate.data_snapshot["max_raw_id"])
    )
    snapshots = (candidate.data_snapshot, champion.data_snapshot)
    frame = frame.subset(unseen_by_both(frame, source=candidate.source, snapshots=snapshots))
    challenger_score = _score(
        candidate, challenger.predict_proba(frame.features), frame.labels, metric
    )
    try:
        champion_proba = predictor_for(champion).predict_proba(frame.features)
    except (ArtifactIntegrityError, InvalidInputError) as exc:
        reason = f"champion {champion.model_version} cannot score these rows ({exc}){note}"
        repo.activate_model(engine, version=version, reason=reason)
        return DeployResult(
            promoted=True,
            model_version=version,
            reason=reason,
            champion_version=champion.model_version,
            challenger_score=challenger_score,
            n_eval_rows=len(frame.labels),
            shadow=live,
        )
    champion_score = _score(champion, champion_proba, frame.labels, metric)
    result_args: dict[str, Any] = {
        "champion_version": champion.model_version,
        "challenger_score": challenger_score,
        "champion_score": champion_score,
        "n_eval_rows": len(frame.labels),
        "shadow": live,
    }
    comparison = (
        f"{metric} {challenger_score:.4f} vs champion {champion.model_version} "
        f"{champion_score:.4f} (margin {margin:g}) on {len(frame.labels)} held-out rows{note}"
    )
    if np.isfinite(challenger_score) and challenger_score > champion_score + margin:
        reason = f"beat the champion: {comparison}"
        repo.activate_model(engine, version=version, reason=reason)
        logger.info("deployed %s: %s", version, reason)
        return DeployResult(promoted=True, model_version=version, reason=reason, **result_args)
    return _reject(version, f"did not beat the champion: {comparison}", champion=result_args)


def _shadow_summary(version: str) -> dict[str, Any] | None:
    """The shadow report of ``version`` for the deploy output; None if it cannot be made."""
    from src.pipeline.shadow import shadow_report

    try:
        return shadow_report(model_version=version)
    except Exception as exc:  # a report must never block or break a deploy
        logger.warning("no shadow report for %s: %s", version, exc)
        return None


def _score(model: ModelMetadata, proba: np.ndarray, labels: np.ndarray, metric: str) -> float:
    return float(classification_metrics(labels, proba, threshold=model.threshold)[metric])


def _reject(version: str, reason: str, *, champion: dict[str, Any] | None) -> DeployResult:
    with session_scope() as session:
        repo.set_status(session, version=version, status="rejected", reason=reason)
        repo.record_event(
            session,
            event="rejected",
            model_version=version,
            success=True,
            detail={"reason": reason},
        )
    logger.info("rejected %s: %s", version, reason)
    return DeployResult(promoted=False, model_version=version, reason=reason, **(champion or {}))


def activate(*, model_version: str, reason: str = "manual activation") -> str | None:
    """Force-activate a model (an operator's rollback); returns the retired version."""
    with session_scope() as session:
        predictor_for(repo.get_model(session, version=model_version))  # refuse corrupt artifacts
    return repo.activate_model(get_engine(), version=model_version, reason=reason)
