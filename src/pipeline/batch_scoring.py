"""Batch scoring: every stored row of a source, scored by one model, resumable by run id.

Lenders re-score their whole book nightly.  A run scores the source's processed rows (those
stored when it started) in raw-id ranges of about ``chunk_size`` rows, cut in SQL
(``batch_repository.id_ranges``); each range is one transaction of
``INSERT ... ON CONFLICT (run_id, row_key) DO NOTHING`` (``score_id_range``), the one scoring
path of both the CLI (``score_source``: ranges one after another) and the ``batch_scoring``
DAG (``src.pipeline.batch_plan``: one mapped task per range).  A range holds the run row only
``FOR SHARE``, so ranges of one run commit in parallel; the run is marked ``complete``
(``batch_runs.complete_if_done``, under ``FOR UPDATE``) once every row has a committed score.  A run
that dies mid-way keeps every range it committed and stays ``running``; the same command with
the same run id scores only what is missing.  Models load only through the checksum-verified
``predictor_for``, as /predict does.
"""

from __future__ import annotations

import logging
import math
import time
import uuid
from dataclasses import asdict, dataclass
from typing import TYPE_CHECKING, Any, NamedTuple

from tqdm.auto import tqdm

from src.data import batch_repository as batch
from src.data.database import session_scope
from src.data.frames import records_to_frame
from src.data.values import load_json_texts
from src.exceptions import ConfigurationError, InvalidInputError
from src.pipeline.batch_runs import complete_if_done, open_run
from src.pipeline.serving import configured_device

if TYPE_CHECKING:
    from src.data.batch_tables import BatchRun
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


class RangeCounts(NamedTuple):
    """One range: its ``rows``, those ``fetched`` as unscored, those this call ``scored``."""

    rows: int
    fetched: int
    scored: int


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
    run_id = run_id or uuid.uuid4().hex
    device = configured_device(purpose=f"batch run {run_id}")
    run, predictor = open_run(
        source=source,
        model_version=model_version,
        run_id=run_id,
        chunk_size=chunk_size,
        device=device,
    )
    done = run.status == "complete"  # a complete run has nothing to score: skip the ranges
    with session_scope() as session:
        already = batch.count_scores(session, run_id=run_id)
        ranges = (
            []
            if done
            else batch.id_ranges(
                session, source=run.source, max_raw_id=run.max_raw_id, chunk_size=chunk_size
            )
        )
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
    scored, skipped, chunks = 0, already if done else 0, 0
    desc = f"score {run_id[:12]}"
    with tqdm(total=run.rows_total, initial=already, desc=desc, disable=not progress) as bar:
        for first, last, _ in ranges:
            counts = score_id_range(run, predictor, first_raw_id=first, last_raw_id=last)
            scored, skipped = scored + counts.scored, skipped + counts.rows - counts.scored
            chunks += counts.fetched > 0  # a range found complete is no chunk of this call
            bar.update(counts.fetched)
    seconds = time.perf_counter() - started
    status, _ = complete_if_done(run_id=run_id)
    summary = BatchSummary(
        run_id=run_id,
        source=run.source,
        model_version=run.model_version,
        status=status,
        rows_total=run.rows_total,
        rows_scored=scored,
        rows_skipped=skipped,
        chunks=chunks,
        seconds=round(seconds, 3),
        rows_per_second=round(scored / seconds, 1) if seconds > 0 else 0.0,
    )
    logger.info("batch run %s: %s", run_id, asdict(summary))
    return summary


def score_id_range(
    run: BatchRun, predictor: Predictor, *, first_raw_id: int, last_raw_id: int
) -> RangeCounts:
    """Score the run's unscored rows with raw ids in ``[first_raw_id, last_raw_id]`` (capped
    at the run's ``max_raw_id``) in one transaction; a retry of the range inserts nothing.

    The run row is held ``FOR SHARE`` only: other ranges of the run write at the same time
    (their rows differ, so the unique key never makes them wait on each other), while
    ``complete_if_done`` waits for the ranges already writing before it counts.
    """
    last = min(last_raw_id, run.max_raw_id)
    with session_scope() as session:
        if batch.share_run(session, run_id=run.run_id) is None:
            raise ConfigurationError(f"batch run {run.run_id!r} does not exist")
        rows = batch.next_chunk(
            session,
            run_id=run.run_id,
            source=run.source,
            after_raw_id=first_raw_id - 1,
            max_raw_id=last,
            limit=None,
        )
        total = batch.count_range(
            session, source=run.source, first_raw_id=first_raw_id, last_raw_id=last
        )
        inserted = batch.insert_scores(session, rows=_score_rows(run, predictor, rows))
    logger.debug(
        "batch run %s: raw ids %d-%d committed (%d of %d rows new)",
        run.run_id,
        first_raw_id,
        last,
        inserted,
        total,
    )
    return RangeCounts(rows=total, fetched=len(rows), scored=inserted)


def _score_rows(
    run: BatchRun, predictor: Predictor, rows: batch.SourceRows
) -> list[dict[str, Any]]:
    """One forward pass over a chunk: calibrated probabilities and decisions at the threshold."""
    if not len(rows):
        return []
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
