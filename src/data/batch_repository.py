"""Keyword-only batch scoring data access: runs, raw-id ranges, unscored rows, idempotent writes.

Every write of scores is ``INSERT ... ON CONFLICT (run_id, row_key) DO NOTHING``, so a chunk
written twice (a resumed run, or two processes given the same run id) stores each row once;
the returned counts are what this call actually inserted.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import pandas as pd
from sqlalchemy import Engine, Text, cast, func, select, update
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.dialects.postgresql import array
from sqlalchemy.orm import Session

from src.data.batch_tables import BatchRun, BatchScore
from src.data.tables import ModelMetadata, ProcessedData, RawData, utcnow


@dataclass(frozen=True)
class SourceRows:
    """A chunk of processed rows: raw ids (ascending), row keys and feature JSON texts."""

    raw_ids: list[int]
    row_keys: list[str]
    feature_texts: list[str]

    def __len__(self) -> int:
        return len(self.raw_ids)


def source_extent(session: Session, *, source: str) -> tuple[int, int]:
    """``(number of processed rows, highest raw id)`` of a source; ``(0, 0)`` when it has none."""
    count, highest = session.execute(
        select(func.count(), func.max(ProcessedData.raw_id)).where(ProcessedData.source == source)
    ).one()
    return int(count or 0), int(highest or 0)


def get_run(session: Session, *, run_id: str) -> BatchRun | None:
    return session.get(BatchRun, run_id)


def create_run(
    session: Session,
    *,
    run_id: str,
    model: ModelMetadata,
    chunk_size: int,
    extent: tuple[int, int],
) -> BatchRun:
    """Insert the run as ``running`` unless it exists (a concurrent start); return the row.

    ``extent`` is ``source_extent`` of the model's source when the run starts: the rows it
    covers, even if more are collected before it completes.
    """
    values = {
        "run_id": run_id,
        "source": model.source,
        "model_version": model.model_version,
        "chunk_size": chunk_size,
        "rows_total": extent[0],
        "max_raw_id": extent[1],
        "status": "running",
        "started_at": utcnow(),
    }
    session.execute(_dialect(session).insert(BatchRun).values(values).on_conflict_do_nothing())
    run = session.get(BatchRun, run_id, populate_existing=True)
    assert run is not None  # just inserted, or inserted by the concurrent start
    return run


def lock_run(session: Session, *, run_id: str) -> BatchRun:
    """The run row, locked (``FOR UPDATE``; a no-op on SQLite) until the transaction ends."""
    stmt = select(BatchRun).where(BatchRun.run_id == run_id).with_for_update()
    return session.scalars(stmt.execution_options(populate_existing=True)).one()


def share_run(session: Session, *, run_id: str) -> BatchRun | None:
    """The run row under ``FOR SHARE``: chunks of a run take it together, in parallel, while
    ``lock_run`` (``FOR UPDATE``, completion) waits for the chunks already writing."""
    stmt = select(BatchRun).where(BatchRun.run_id == run_id).with_for_update(read=True)
    return session.scalars(stmt.execution_options(populate_existing=True)).one_or_none()


def id_ranges(
    session: Session, *, source: str, max_raw_id: int, chunk_size: int
) -> list[tuple[int, int, int]]:
    """``(first raw id, last raw id, rows)`` of consecutive groups of ``chunk_size`` rows.

    The groups are cut in SQL (``row_number() OVER (ORDER BY raw_id)``), so no id list is
    loaded here; one row per chunk comes back.  The ranges are contiguous from raw id 1 (each
    starts after the previous one's last id), so together they cover every id up to the last
    row's, even a row whose transaction commits after this query.
    """
    numbered = (
        select(
            ProcessedData.raw_id.label("raw_id"),
            ((func.row_number().over(order_by=ProcessedData.raw_id) - 1) // chunk_size).label(
                "bucket"
            ),
        )
        .where(ProcessedData.source == source, ProcessedData.raw_id <= max_raw_id)
        .subquery()
    )
    stmt = (
        select(func.min(numbered.c.raw_id), func.max(numbered.c.raw_id), func.count())
        .group_by(numbered.c.bucket)
        .order_by(numbered.c.bucket)
    )
    ranges, first = [], 1
    for _, last, rows in session.execute(stmt).all():
        ranges.append((first, int(last), int(rows)))
        first = int(last) + 1
    return ranges


def count_range(session: Session, *, source: str, first_raw_id: int, last_raw_id: int) -> int:
    """Processed rows of ``source`` with a raw id in ``[first_raw_id, last_raw_id]``."""
    stmt = select(func.count()).where(
        ProcessedData.source == source, ProcessedData.raw_id.between(first_raw_id, last_raw_id)
    )
    return int(session.scalar(stmt) or 0)


def next_chunk(
    session: Session,
    *,
    run_id: str,
    source: str,
    after_raw_id: int,
    max_raw_id: int,
    limit: int | None,
) -> SourceRows:
    """The next ``limit`` rows (all when None) of the run, in raw id order, with no score yet."""
    scored = select(BatchScore.id).where(
        BatchScore.run_id == run_id, BatchScore.row_key == RawData.row_key
    )
    stmt = (
        select(ProcessedData.raw_id, RawData.row_key, cast(ProcessedData.features, Text))
        .join(RawData, RawData.id == ProcessedData.raw_id)
        .where(
            ProcessedData.source == source,
            ProcessedData.raw_id > after_raw_id,
            ProcessedData.raw_id <= max_raw_id,
            ~scored.exists(),
        )
        .order_by(ProcessedData.raw_id)
        .limit(limit)
    )
    rows = session.execute(stmt).all()
    return SourceRows(
        raw_ids=[int(r[0]) for r in rows],
        row_keys=[str(r[1]) for r in rows],
        feature_texts=[str(r[2]) for r in rows],
    )


def insert_scores(session: Session, *, rows: Sequence[dict[str, Any]]) -> int:
    """Store scores, ignoring rows already scored in their run; returns how many were new."""
    if not rows:
        return 0
    stmt = (
        _dialect(session)
        .insert(BatchScore)
        .on_conflict_do_nothing(index_elements=["run_id", "row_key"])
        .returning(BatchScore.id)
    )
    return len(session.execute(stmt, list(rows)).all())


def count_scores(session: Session, *, run_id: str) -> int:
    stmt = select(func.count()).select_from(BatchScore).where(BatchScore.run_id == run_id)
    return int(session.scalar(stmt) or 0)


def score_stats(session: Session, *, run_id: str) -> dict[str, Any]:
    """Distribution of a run's probabilities (PostgreSQL): count, mean, share predicted 1,
    min, max and deciles (10 % ... 90 %), all computed in the database."""
    p = BatchScore.probability
    levels = [round(0.1 * i, 1) for i in range(1, 10)]
    count, mean, positive, low, high, deciles = session.execute(
        select(
            func.count(),
            func.avg(p),
            func.avg(BatchScore.prediction),
            func.min(p),
            func.max(p),
            func.percentile_cont(array(levels)).within_group(p),
        ).where(BatchScore.run_id == run_id)
    ).one()
    if not count:
        return {"rows": 0}
    return {
        "rows": int(count),
        "mean": float(mean),
        "share_positive": float(positive),
        "min": float(low),
        "max": float(high),
        "deciles": {f"p{int(q * 100)}": float(v) for q, v in zip(levels, deciles, strict=True)},
    }


def mark_complete(session: Session, *, run_id: str) -> None:
    """Set ``complete`` (once: the first finish time is kept)."""
    session.execute(
        update(BatchRun)
        .where(BatchRun.run_id == run_id, BatchRun.status == "running")
        .values(status="complete", finished_at=utcnow())
    )


def scores_frame(engine: Engine, *, run_id: str) -> pd.DataFrame:
    """A run's scores in the order they were written, for export."""
    stmt = (
        select(
            BatchScore.run_id,
            BatchScore.row_key,
            BatchScore.model_version,
            BatchScore.probability,
            BatchScore.prediction,
            BatchScore.scored_at,
        )
        .where(BatchScore.run_id == run_id)
        .order_by(BatchScore.id)
    )
    with engine.connect() as conn:
        rows = conn.execute(stmt).all()
    columns = ["run_id", "row_key", "model_version", "probability", "prediction", "scored_at"]
    return pd.DataFrame([tuple(r) for r in rows], columns=columns)


def _dialect(session: Session) -> Any:
    """The dialect module whose ``insert`` has ``on_conflict_do_nothing``."""
    return postgresql if session.get_bind().dialect.name == "postgresql" else sqlite
