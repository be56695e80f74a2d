"""Batch scoring in parallel pieces, for the ``batch_scoring`` DAG: plan, score ranges, finish.

``plan_batch`` does everything ``loan-default score`` does before scoring (the same checks and
errors, the checksum-verified model, the ``batch_runs`` row) and returns small, JSON-ready
raw-id ranges of about ``chunk_size`` rows each; Airflow maps one ``score_range`` task over
each, so only these descriptors travel by XCom, never rows or scores.  The ranges are
consecutive and the first starts at raw id 1, so together they cover every id up to the
run's ``max_raw_id``.  ``score_range`` is the CLI's own scoring path (``score_id_range``): one
transaction per range, ``ON CONFLICT DO NOTHING``, the run row held only ``FOR SHARE`` so ranges
run truly in parallel, and a retried range adds nothing.  ``finish_batch`` marks the run
complete only when every row is scored, and otherwise fails, naming how many are missing.
"""

from __future__ import annotations

import hashlib
import logging
from typing import Any

from src.data import batch_repository as batch
from src.data import repository as repo
from src.data.database import session_scope
from src.exceptions import ConfigurationError, IncompleteBatchError
from src.pipeline.batch_runs import complete_if_done, open_run
from src.pipeline.batch_scoring import score_id_range
from src.pipeline.serving import configured_device, predictor_for

logger = logging.getLogger(__name__)

RUN_ID_LENGTH = 64  # loan_data.batch_runs.run_id is VARCHAR(64)


def batch_run_id(*, requested: str | None, dag_run_id: str) -> str:
    """The batch run id of a DAG run: ``requested`` if given, else one derived from the DAG
    run id, so that clearing or re-running the same DAG run resumes the same batch run."""
    if requested:
        if len(requested) > RUN_ID_LENGTH:
            raise ConfigurationError(f"run id must be 1 to {RUN_ID_LENGTH} characters")
        return requested
    derived = f"airflow-{dag_run_id}"
    if len(derived) <= RUN_ID_LENGTH:
        return derived
    digest = hashlib.sha256(dag_run_id.encode()).hexdigest()[:16]
    return f"{derived[: RUN_ID_LENGTH - 17]}-{digest}"  # still unique, still readable


def plan_batch(
    *, source: str | None, model_version: str | None, run_id: str, chunk_size: int
) -> list[dict[str, Any]]:
    """Start (or reuse) run ``run_id`` and cut its rows into ranges of about ``chunk_size``.

    A run id that exists is resumed exactly as ``score_source`` resumes it (other source or
    model: ``ConfigurationError``); the ranges are recomputed, so a re-plan after a partial run
    returns the same ranges for the same chunk size and the scored ones cost one query each.
    """
    run, _ = open_run(
        source=source, model_version=model_version, run_id=run_id, chunk_size=chunk_size
    )
    with session_scope() as session:
        groups = batch.id_ranges(
            session, source=run.source, max_raw_id=run.max_raw_id, chunk_size=chunk_size
        )
    chunks = [
        {"run_id": run_id, "first_raw_id": first, "last_raw_id": last} for first, last, _ in groups
    ]
    logger.info(
        "batch run %s: %s with %s, %d rows up to raw id %d in %d ranges of <= %d rows",
        run_id,
        run.source,
        run.model_version,
        run.rows_total,
        run.max_raw_id,
        len(chunks),
        chunk_size,
    )
    return chunks


def score_range(*, run_id: str, first_raw_id: int, last_raw_id: int) -> dict[str, Any]:
    """Score the rows of ``[first_raw_id, last_raw_id]`` the run has not scored yet.

    Returns ``rows`` (in the range), ``scored`` (by this call) and ``skipped`` (scored before,
    or by a concurrent writer of the same range).  The model loads through ``predictor_for``,
    so a tampered artifact fails here (``ArtifactIntegrityError``) and writes nothing.
    """
    if first_raw_id > last_raw_id:
        raise ConfigurationError(f"empty raw id range {first_raw_id}-{last_raw_id}")
    device = configured_device(purpose=f"batch run {run_id}, range {first_raw_id}-{last_raw_id}")
    with session_scope() as session:
        run = batch.get_run(session, run_id=run_id)
        if run is None:
            raise ConfigurationError(f"batch run {run_id!r} does not exist; plan it first")
        model = repo.get_model(session, version=run.model_version)
    predictor = predictor_for(model, device=device)
    counts = score_id_range(run, predictor, first_raw_id=first_raw_id, last_raw_id=last_raw_id)
    result = {
        "run_id": run_id,
        "first_raw_id": first_raw_id,
        "last_raw_id": last_raw_id,
        "rows": counts.rows,
        "scored": counts.scored,
        "skipped": counts.rows - counts.scored,
    }
    logger.info("batch run %s: range %s", run_id, result)
    return result


def finish_batch(*, run_id: str) -> dict[str, Any]:
    """Complete the run if every row is scored and summarise its scores; else fail.

    Raises ``IncompleteBatchError`` naming the number of missing rows, leaving the run
    ``running`` (a later re-run with the same run id scores only those rows).
    """
    with session_scope() as session:
        run = batch.get_run(session, run_id=run_id)
    if run is None:
        raise ConfigurationError(f"batch run {run_id!r} does not exist")
    status, scored = complete_if_done(run_id=run_id)
    if status != "complete":
        missing = run.rows_total - scored
        raise IncompleteBatchError(
            f"batch run {run_id!r}: {missing} of {run.rows_total} rows have no score; "
            "it stays 'running': re-run with the same run id to score the missing rows"
        )
    with session_scope() as session:
        stats = batch.score_stats(session, run_id=run_id)
    summary = {
        "run_id": run_id,
        "source": run.source,
        "model_version": run.model_version,
        "status": status,
        "rows_total": run.rows_total,
        "rows_scored": scored,
        "probability": {k: v for k, v in stats.items() if k not in ("rows", "share_positive")},
        "share_positive": stats.get("share_positive", 0.0),
    }
    logger.info("batch run %s finished: %s", run_id, summary)
    return summary
