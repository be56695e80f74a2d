"""Drift bin counts made in Python over chunks of stored rows (SQLite, and collected rows).

The path that ``src.data.drift_queries`` takes where SQL cannot count (SQLite, the laptop
demo) and that the SQL is tested against: rows are read ``CHUNK_ROWS`` at a time and binned
by ``src.data.drift_counts``, so memory stays bounded however many rows there are.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterator, Mapping, Sequence
from typing import Any

import numpy as np
from sqlalchemy import select
from sqlalchemy.orm import Session

from src.data.drift_counts import count_numbers, count_values
from src.data.monitoring_tables import SCORE
from src.data.tables import ProcessedData, UnlabelledRow

CHUNK_ROWS = 5000  # rows per chunk on the Python path (SQLite, scoring collected rows)


def python_counts(
    session: Session,
    *,
    entries: Mapping[str, Mapping[str, Any]],
    columns: Sequence[Any],
    orm_filter: Sequence[Any],
) -> tuple[int, dict[str, np.ndarray]]:
    """Rows and counts per entry of ``select(*columns).where(*orm_filter)``.

    ``columns``: the features column, then the score column when ``entries`` has ``SCORE``.
    """
    stmt = select(*columns).where(*orm_filter).execution_options(yield_per=CHUNK_ROWS)
    totals = {name: np.zeros(0, dtype=np.int64) for name in entries}
    n = 0
    for chunk in session.execute(stmt).partitions():
        records = [as_record(row[0]) for row in chunk]
        n += len(records)
        for name, entry in entries.items():
            if name == SCORE:
                scores = np.fromiter((float(row[1]) for row in chunk), dtype=np.float64)
                part = count_numbers(entry, scores)
            else:
                part = count_values(entry, (r.get(name) for r in records))
            totals[name] = part if totals[name].size == 0 else totals[name] + part
    counts = {
        name: totals[name] if totals[name].size else count_values(entry, [])
        for name, entry in entries.items()
    }
    return n, counts


def iter_collected_features(
    session: Session, *, source: str, after_raw_id: int, chunk_rows: int = CHUNK_ROWS
) -> Iterator[list[dict[str, Any]]]:
    """The features of ``source``'s rows with ``raw_id > after_raw_id``, in chunks of rows."""
    where = (ProcessedData.source == source, ProcessedData.raw_id > after_raw_id)
    return _iter_features(session, ProcessedData.features, where, ProcessedData.raw_id, chunk_rows)


def iter_unlabelled_features(
    session: Session, *, source: str, after: dt.datetime, chunk_rows: int = CHUNK_ROWS
) -> Iterator[list[dict[str, Any]]]:
    """The features of ``source``'s unlabelled rows collected after ``after``, in chunks."""
    where = (UnlabelledRow.source == source, UnlabelledRow.ingested_at > after)
    return _iter_features(session, UnlabelledRow.features, where, UnlabelledRow.id, chunk_rows)


def _iter_features(
    session: Session, column: Any, where: Sequence[Any], order: Any, chunk_rows: int
) -> Iterator[list[dict[str, Any]]]:
    stmt = select(column).where(*where).order_by(order).execution_options(yield_per=chunk_rows)
    for chunk in session.execute(stmt).partitions():
        yield [as_record(row[0]) for row in chunk]


def as_record(value: Any) -> dict[str, Any]:
    """A stored features value as a dict (anything else has no features: all missing)."""
    return value if isinstance(value, dict) else {}
