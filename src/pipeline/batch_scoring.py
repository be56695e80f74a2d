"""Batch scoring: every stored row of a source, scored by one model, resumable by run id.

Lenders re-score their whole book nightly.  A run scores the source's processed rows (those
stored when it started) in chunks, in raw-id order; each chunk is one transaction of
``INSERT ... ON CONFLICT (run_id, row_key) DO NOTHING``, and the transaction of the last
chunk also marks the run ``complete``.  A run that dies mid-way therefore keeps every chunk it
committed and stays ``running``; the same command with the same run id scores only what is
missing.  Models load only through the checksum-verified ``predictor_for``, as /predict does.
"""

from __future__ import annotations

import logging
import math
import time
import uuid
from dataclasses import asdict, dataclass
from typing import TYPE_CHECKING, Any

from tqdm.auto import tqdm

from src.data import batch_repository as batch
from src.data import repository as repo
from src.data.database import session_scope
from src.data.frames import records_to_frame
from src.data.values import load_json_texts
from src.exceptions import (
    ConfigurationError,
    InvalidInputError,
    ModelNotFoundError,
    NoDataError,
)
from src.pipeline.model_lines import resolve_line
from src.pipeline.serving import predictor_for

if TYPE_CHECKING:
    from src.data.batch_tables import BatchRun
    from src.data.tables import ModelMetadata
    from src.models.predictor import Predictor

logger = logging.getLogger(__name__)


@dataclass(frozen=True)
class BatchSummary:
    """What one invocation did: ``rows_scored`` by it, ``rows_skipped`` as already done."""

    run_id: str
    source: str
    model_version: str
    status: str
    rows_total: int
    rows_scored: int
    rows_skipped: int
    chunks: int
    seconds: float
    rows_per_second: float


def score_source(
    *,
    source: str | None = None,
    model_version: str | None = None,
    run_id: str | None = None,
    chunk_size: int,
    progress: bool = False,
) -> BatchSummary:
    """Score every stored row of ``source`` (default: its model line's champion) under ``run_id``.

    A new run id (default: a fresh one) starts a run; a known one resumes it, taking its source
    and model when they are not given, and refusing (``ConfigurationError``) when they differ
    (the chunk size may differ: it only sizes transactions).  Every check, and the artifact's
    checksum, happens before anything is written.
    """
    if chunk_size < 1:
        raise ConfigurationError(f"chunk size must be at least 1, got {chunk_size}")
    run_id = run_id or uuid.uuid4().hex
    model, run = _resolve(source=source, model_version=model_version, run_id=run_id)
    predictor = predictor_for(model)  # verified before the run is created
    if run is None:
        run = _start(run_id=run_id, model=model, chunk_size=chunk_size)
    with session_scope() as session:
        already = batch.count_scores(session, run_id=run_id)
    logger.info(
        "batch run %s: %s with %s, %d rows, %d already scored, chunks of %d",
        run_id,
        run.source,
        run.model_version,
        run.rows_total,
        already,
        chunk_size,
    )
    started = time.perf_counter()
    scored, skipped, chunks = _score_chunks(
        run, predictor, chunk_size=chunk_size, done=already, bar=progress
    )
    seconds = time.perf_counter() - started
    status = _finish(run_id=run_id)
    summary = BatchSummary(
        run_id=run_id,
        source=run.source,
        model_version=run.model_version,
        status=status,
        rows_total=run.rows_total,
        rows_scored=scored,
        rows_skipped=already + skipped,
        chunks=chunks,
        seconds=round(seconds, 3),
        rows_per_second=round(scored / seconds, 1) if seconds > 0 else 0.0,
    )
    logger.info("batch run %s: %s", run_id, asdict(summary))
    return summary


def _resolve(
    *, source: str | None, model_version: str | None, run_id: str
) -> tuple[ModelMetadata, BatchRun | None]:
    """The model to score with and the stored run (None for a new one); raises on any mismatch."""
    with session_scope() as session:
        run = batch.get_run(session, run_id=run_id)
    if run is not None:
        for name, given, stored in (
            ("source", source, run.source),
            ("model", model_version, run.model_version),
        ):
            if given is not None and given != stored:
                raise ConfigurationError(
                    f"batch run {run_id!r} scores {name} {stored!r}, not {given!r}; "
                    "use a new run id to score with other settings"
                )
        source, model_version = run.source, run.model_version
    if model_version is not None:
        with session_scope() as session:
            model = repo.get_model(session, version=model_version)
        if source is not None and source != model.source:
            raise ConfigurationError(
                f"model {model_version} belongs to model line {model.source!r}, "
                f"not to source {source!r}"
            )
        line = model.source
    else:
        line = resolve_line(source)
    with session_scope() as session:
        n_rows, _ = batch.source_extent(session, source=line)
        if not n_rows:
            raise NoDataError(
                f"source {line!r} has no stored rows to score; run `loan-default collect` first"
            )
        if model_version is None:
            active = repo.get_active_model(session, source=line)
            if active is None:
                raise ModelNotFoundError(
                    f"model line {line!r} has no active model; run `loan-default train` "
                    "or name one with --model"
                )
            model = active
    return model, run


def _start(*, run_id: str, model: ModelMetadata, chunk_size: int) -> BatchRun:
    """Record the run as ``running``, fixing the rows it covers (those stored now)."""
    with session_scope() as session:
        extent = batch.source_extent(session, source=model.source)
        run = batch.create_run(
            session, run_id=run_id, model=model, chunk_size=chunk_size, extent=extent
        )
    if (run.source, run.model_version) != (model.source, model.model_version):
        raise ConfigurationError(f"batch run {run_id!r} was just started with other settings")
    return run


def _score_chunks(
    run: BatchRun, predictor: Predictor, *, chunk_size: int, done: int, bar: bool
) -> tuple[int, int, int]:
    """Score the run's missing rows chunk by chunk; returns (scored, skipped, chunks).

    Each chunk is one transaction that first locks the run row: chunks of one run (even from
    two processes given the same id) commit one at a time, so the count that decides
    completion sees every committed score.
    """
    scored = skipped = chunks = after = 0
    desc = f"score {run.run_id[:12]}"
    with tqdm(total=run.rows_total, initial=done, desc=desc, disable=not bar) as pbar:
        while True:
            with session_scope() as session:
                locked = batch.lock_run(session, run_id=run.run_id)
                rows = batch.next_chunk(
                    session,
                    run_id=run.run_id,
                    source=run.source,
                    after_raw_id=after,
                    max_raw_id=run.max_raw_id,
                    limit=chunk_size,
                )
                if not len(rows):
                    break
                inserted = batch.insert_scores(session, rows=_score_rows(run, predictor, rows))
                if batch.count_scores(session, run_id=run.run_id) >= locked.rows_total:
                    batch.mark_complete(session, run_id=run.run_id)
            scored, skipped, chunks = scored + inserted, skipped + len(rows) - inserted, chunks + 1
            after = rows.raw_ids[-1]
            pbar.update(len(rows))
            logger.debug("batch run %s: chunk %d committed (%d rows)", run.run_id, chunks, inserted)
    return scored, skipped, chunks


def _score_rows(
    run: BatchRun, predictor: Predictor, rows: batch.SourceRows
) -> list[dict[str, Any]]:
    """One forward pass over a chunk: calibrated probabilities and decisions at the threshold."""
    frame = records_to_frame(load_json_texts(rows.feature_texts), predictor.schema)
    proba = predictor.predict_proba(frame)
    for key, p in zip(rows.row_keys, proba, strict=True):
        if not math.isfinite(p):  # defensive, as in serving: the preprocessor clips inputs
            raise InvalidInputError(f"row {key!r}", "the model produced no finite probability")
    threshold = predictor.threshold
    return [
        {
            "run_id": run.run_id,
            "row_key": key,
            "model_version": run.model_version,
            "probability": float(p),
            "prediction": int(p >= threshold),
        }
        for key, p in zip(rows.row_keys, proba, strict=True)
    ]


def _finish(*, run_id: str) -> str:
    """The run's status; completes a run whose rows were all scored by another process."""
    with session_scope() as session:
        run = batch.lock_run(session, run_id=run_id)
        if (
            run.status != "complete"
            and batch.count_scores(session, run_id=run_id) >= run.rows_total
        ):
            batch.mark_complete(session, run_id=run_id)
            return "complete"
        return run.status
