"""Writes and reads of ``loan_data.unlabelled_data``: applications without an outcome yet.

``collect --unlabelled`` stores a source row whose label cell is empty here instead of
quarantining it for the missing label (``src.data.ingest``).  Its features are checked like
a labelled row's (``check_rows(require_label=False)``) and typed with the same
``records_to_frame`` conversion as ``processed_data``, so a pretraining frame built from
both tables has identical values for identical applications.
"""

from __future__ import annotations

import datetime as dt
from typing import Any

from sqlalchemy import Connection, Engine, select

from src.data.feature_schema import FeatureSchema
from src.data.frames import feature_dicts, records_to_frame
from src.data.storage import insert_ignore
from src.data.tables import RawData, UnlabelledRow, utcnow
from src.data.validation import CheckedRows
from src.data.values import json_safe


def store_unlabelled(
    conn: Connection,
    source: str,
    schema: FeatureSchema,
    checked: CheckedRows,
    reasons: list[str | None],
    keys: list[str],
    data_date: dt.date,
) -> int:
    """Rows without a reason -> unlabelled_data (keys already stored are skipped)."""
    good = [i for i, r in enumerate(reasons) if r is None]
    if not good:
        return 0
    names = list(schema.features)
    records = [{c: json_safe(checked.values[c][i]) for c in names} for i in good]
    typed = feature_dicts(records_to_frame(records, schema))
    now = utcnow()
    rows = [
        {
            "source": source,
            "row_key": keys[i],
            "data_date": data_date,
            "record": record,
            "features": features,
            "ingested_at": now,  # explicit: the migration's default is PostgreSQL's clock
        }
        for i, record, features in zip(good, records, typed, strict=True)
    ]
    return insert_ignore(conn, UnlabelledRow, rows, ["source", "row_key"])


def unlabelled_keys(engine: Engine, source: str) -> set[str]:
    """Row keys of ``source`` already stored as unlabelled."""
    with engine.connect() as conn:
        return set(
            conn.scalars(select(UnlabelledRow.row_key).where(UnlabelledRow.source == source))
        )


def load_unlabelled(
    engine: Engine, *, source: str, max_id: int, max_raw_id: int
) -> list[tuple[str, dict[str, Any]]]:
    """``(row_key, typed features)`` of unlabelled rows with ``id <= max_id``, by id.

    Rows whose label has since been collected into ``raw_data`` (``id <= max_raw_id``: the
    labelled snapshot of the same training run) are left out: they are labelled rows of
    that run now, in whichever split their key puts them.  The bounds make the result the
    same on every retry of a training stage.
    """
    labelled = select(RawData.row_key).where(RawData.source == source, RawData.id <= max_raw_id)
    stmt = (
        select(UnlabelledRow.row_key, UnlabelledRow.features)
        .where(
            UnlabelledRow.source == source,
            UnlabelledRow.id <= max_id,
            UnlabelledRow.row_key.not_in(labelled),
        )
        .order_by(UnlabelledRow.id)
    )
    with engine.connect() as conn:
        return [(row.row_key, row.features) for row in conn.execute(stmt)]
