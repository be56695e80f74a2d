"""Exactly-once writes of ingested rows: raw_data, quarantine, and INSERT ... ON CONFLICT.

Every write here ignores rows whose unique key is already stored, so re-running
a collect, or running two at once, never stores a row twice; the returned
counts are what this call actually inserted.  On PostgreSQL valid rows take the
COPY fast path (``src.data.pg_copy``); elsewhere (SQLite) a plain executemany.
"""

from __future__ import annotations

import datetime as dt
from typing import Any

import pandas as pd
from sqlalchemy import Connection, inspect
from sqlalchemy.dialects import postgresql, sqlite

from src.data.feature_schema import FeatureSchema
from src.data.pg_copy import copy_cursor, copy_valid
from src.data.tables import Base, QuarantinedRow, RawData, utcnow
from src.data.validation import CheckedRows
from src.data.values import json_safe


def insert_ignore(
    conn: Connection, table: type[Base], params: list[dict[str, Any]], keys: list[str]
) -> int:
    """Executemany INSERT ... ON CONFLICT DO NOTHING; returns the number of rows inserted."""
    if not params:
        return 0
    dialect = postgresql if conn.dialect.name == "postgresql" else sqlite
    pk = inspect(table).primary_key[0]
    stmt = dialect.insert(table).on_conflict_do_nothing(index_elements=keys).returning(pk)
    return len(conn.execute(stmt, params).all())


def store_valid(
    conn: Connection,
    source: str,
    schema: FeatureSchema,
    checked: CheckedRows,
    reasons: list[str | None],
    keys: list[str],
    data_date: dt.date,
) -> tuple[int, int]:
    """Valid rows -> raw_data (and, on PostgreSQL, processed_data); returns both counts."""
    good = [i for i, r in enumerate(reasons) if r is None]
    cursor = copy_cursor(conn)
    if good and cursor is not None:
        return copy_valid(conn, cursor, source, schema, checked, good, keys, data_date)
    features = list(schema.features)
    columns, now = [checked.values[c][good] for c in features], utcnow()
    raw = [
        {
            "source": source,
            "row_key": keys[i],
            "data_date": data_date,
            "record": dict(zip(features, row, strict=True)),
            "label": checked.labels[i],
            "ingested_at": now,  # explicit: the migration's now() default is PostgreSQL-only
        }
        for i, row in zip(good, zip(*columns, strict=True), strict=True)
    ]
    return insert_ignore(conn, RawData, raw, ["source", "row_key"]), 0


def store_quarantined(
    conn: Connection,
    source: str,
    rows: pd.DataFrame,
    reasons: list[str | None],
    keys: list[str],
    data_date: dt.date,
) -> int:
    """Rows with a reason -> quarantine, as received (made JSON-safe); returns how many."""
    bad = [
        {
            "source": source,
            "row_key": keys[i],
            "data_date": data_date,
            "reason": r,
            "record": {c: json_safe(v) for c, v in rows.iloc[i].items()},
            "created_at": utcnow(),
        }
        for i, r in enumerate(reasons)
        if r is not None
    ]
    return insert_ignore(conn, QuarantinedRow, bad, ["source", "row_key"])
