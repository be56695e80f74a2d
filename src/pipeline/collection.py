"""The collection step as the DAG calls it: one batch per data date, idempotently.

``collect`` itself always takes the *next* unseen rows.  A scheduled run must
instead be repeatable for its logical date: the batch of date D is at most
``batch_size`` rows tagged D, so re-running D (a retry, a cleared task, a
second ``dag.test()``) tops up an interrupted batch and otherwise adds nothing.
"""

from __future__ import annotations

import datetime as dt
import logging
from typing import Any

from sqlalchemy import func, select, union_all

from config.settings import get_settings
from src.data.database import session_scope
from src.data.ingest import collect
from src.data.source_options import SourceOptions
from src.data.tables import QuarantinedRow, RawData, UnlabelledRow

logger = logging.getLogger(__name__)


def rows_for_date(*, source: str, data_date: dt.date) -> int:
    """Rows of ``source`` already stored (labelled or not) or quarantined under ``data_date``."""
    rows = union_all(
        *(
            select(table.id).where(table.source == source, table.data_date == data_date)
            for table in (RawData, QuarantinedRow, UnlabelledRow)
        )
    ).subquery()
    with session_scope() as session:
        return int(session.scalar(select(func.count()).select_from(rows)) or 0)


def run_collection(
    *,
    source: str | None = None,
    batch_size: int | None = None,
    data_date: str | None = None,
    unlabelled: bool | None = None,
) -> dict[str, Any]:
    """Ingest the batch of ``data_date`` (ISO date; default today) and build processed_data.

    ``unlabelled`` (None: ``COLLECT_UNLABELLED``) stores rows with an empty label as
    unlabelled applications (``collect(unlabelled=True)``); they count towards the batch.
    """
    settings = get_settings()
    unlabelled = settings.collect_unlabelled if unlabelled is None else unlabelled
    source = source or settings.data_source
    batch_size = batch_size or settings.ingest_batch_size
    date = dt.date.fromisoformat(data_date[:10]) if data_date else dt.datetime.now(dt.UTC).date()
    already = rows_for_date(source=source, data_date=date)
    quota = batch_size - already
    if quota <= 0:
        logger.info("batch of %s for %s already complete (%d rows)", source, date, already)
        return {
            "source": source,
            "data_date": date.isoformat(),
            "inserted": 0,
            "quarantined": 0,
            "already_for_date": already,
        }
    options = SourceOptions(source=source)  # the DAG's one option; the schema is stored
    summary = collect(
        options=options, batch_size=quota, data_date=date, unlabelled=unlabelled
    ).as_dict()
    return summary | {"data_date": date.isoformat(), "already_for_date": already}
