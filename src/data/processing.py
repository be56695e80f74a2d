"""raw_data -> processed_data: each stored row typed per its source's schema.

``processed_data.features`` holds each feature typed per the source's schema
(numbers as numbers, categories as strings, None = missing) and a 0/1 label, so
training never re-parses what a source sent.  The typing is ``records_to_frame``
(``src.data.frames``), the same conversion serving uses, so both see identical
values.  On PostgreSQL, collect already processes rows whose values arrived
typed (``src.data.pg_copy``); ``build_processed`` fills in the rest.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from typing import Any

from sqlalchemy import Connection, Engine, Text, cast, func, select, text

from src.data.database import get_engine
from src.data.frames import feature_dicts, records_to_frame

# src/pipeline/training.py (load_frame, get_source_schema) and src/api/inference.py
# (records_to_frame) still import through here; both are being changed on other branches
# (issue 10 items 1 and 5): import from src.data.frames / source_registry, then drop this.
from src.data.frames import load_frame as load_frame
from src.data.source_registry import get_source_schema
from src.data.storage import insert_ignore
from src.data.tables import ProcessedData, RawData, utcnow
from src.data.values import dumps, load_json_texts

__all__ = ["PROCESS_CHUNK_ROWS", "build_processed"]

logger = logging.getLogger(__name__)

PROCESS_CHUNK_ROWS = 20_000
_PG_INSERT_PROCESSED = (
    "INSERT INTO loan_data.processed_data (raw_id, source, data_date, features, label) "
    "SELECT x.raw_id, :source, x.data_date, x.features, x.label "
    "FROM jsonb_to_recordset(CAST(:rows AS jsonb)) "
    "AS x(raw_id bigint, data_date date, features jsonb, label integer) "
    "ON CONFLICT (raw_id) DO NOTHING"
)


def build_processed(*, source: str, engine: Engine | None = None) -> int:
    """Write processed rows for every raw row of ``source`` that has none; returns how many.

    Idempotent and safe to run concurrently (ON CONFLICT DO NOTHING on raw_id).
    """
    engine = engine or get_engine()
    schema = get_source_schema(source=source, engine=engine)
    with engine.connect() as conn:
        n_raw = conn.scalar(select(func.count()).where(RawData.source == source)) or 0
        n_done = conn.scalar(select(func.count()).where(ProcessedData.source == source)) or 0
    if n_raw == n_done:
        return 0
    missing = ~select(ProcessedData.raw_id).where(ProcessedData.raw_id == RawData.id).exists()
    written, after = 0, 0
    while True:
        stmt = (
            select(RawData.id, RawData.data_date, cast(RawData.record, Text), RawData.label)
            .where(RawData.source == source, RawData.id > after, missing)
            .order_by(RawData.id)
            .limit(PROCESS_CHUNK_ROWS)
        )
        with engine.begin() as conn:
            rows = conn.execute(stmt).all()
            if not rows:
                break
            after = rows[-1][0]
            records = load_json_texts(r[2] for r in rows)
            features = feature_dicts(records_to_frame(records, schema))
            labels = [int(r[3] == schema.positive_label) for r in rows]
            written += _insert_processed(conn, source, rows, features, labels)
    if written:
        logger.info("built %d processed rows for source %r", written, source)
    return written


def _insert_processed(
    conn: Connection, source: str, rows: Sequence[Any], features: list[dict], labels: list[int]
) -> int:
    if conn.dialect.name == "postgresql":  # one JSON parameter: far cheaper than executemany
        payload = [
            {"raw_id": r[0], "data_date": r[1].isoformat(), "features": f, "label": y}
            for r, f, y in zip(rows, features, labels, strict=True)
        ]
        one = {"source": source, "rows": dumps(payload)}
        return conn.execute(text(_PG_INSERT_PROCESSED), one).rowcount
    now = utcnow()  # explicit: the migration's now() default is PostgreSQL-only
    params = [
        {
            "raw_id": r[0],
            "source": source,
            "data_date": r[1],
            "features": f,
            "label": y,
            "processed_at": now,
        }
        for r, f, y in zip(rows, features, labels, strict=True)
    ]
    return insert_ignore(conn, ProcessedData, params, ["raw_id"])
