"""The PostgreSQL fast path for storing valid rows: COPY into raw_data, processed server-side.

Per-row round trips and per-row JSON work would dominate the cost of large
batches, so valid rows travel as one COPY text stream (their JSON built column
by column, each distinct value encoded once) and the rows whose received values
already have the schema's types are copied into processed_data by one INSERT ...
SELECT.  Works with psycopg 3 and psycopg2 cursors.
"""

from __future__ import annotations

import datetime as dt
import io
import logging
from typing import Any

import numpy as np
import pandas as pd
from sqlalchemy import Connection, text

from src.data.feature_schema import FeatureSchema
from src.data.validation import CheckedRows
from src.data.values import dumps

logger = logging.getLogger(__name__)

_RAW_COLUMNS = "(id, source, row_key, data_date, record, label)"
_NEXT_IDS = (
    "SELECT array_agg(nextval(pg_get_serial_sequence('loan_data.raw_data', 'id'))) "
    "FROM generate_series(1, :n)"
)
_STAGE = (
    "CREATE TEMP TABLE ingest_stage (LIKE loan_data.raw_data INCLUDING DEFAULTS) ON COMMIT DROP"
)
_FROM_STAGE = (
    "INSERT INTO loan_data.raw_data (id, source, row_key, data_date, record, label) "
    "SELECT id, source, row_key, data_date, record, label FROM ingest_stage ORDER BY id "
    "ON CONFLICT (source, row_key) DO NOTHING RETURNING id"
)
# Rows whose received values already have the schema's types: features == record.  The
# ids are this transaction's fresh rows, so no processed row can exist for them yet.
_PROCESS_TYPED = (
    "INSERT INTO loan_data.processed_data (raw_id, source, data_date, features, label) "
    "SELECT r.id, r.source, r.data_date, r.record, CASE WHEN r.label = :positive THEN 1 ELSE 0 END "
    "FROM loan_data.raw_data AS r JOIN unnest(CAST(:ids AS bigint[])) AS fresh(id) "
    "ON r.id = fresh.id WHERE r.source = :source AND r.id BETWEEN :low AND :high"
)
# A join on unnest(...), not ``r.id = ANY(array)``: once statistics make the planner pick a
# sequential scan, ANY compares every row with all 50k ids and the insert slows ~10x.


def copy_cursor(conn: Connection) -> Any | None:
    """The connection's DB-API cursor when it can COPY (PostgreSQL via psycopg), else None."""
    cursor = conn.connection.cursor() if conn.dialect.name == "postgresql" else None
    return cursor if hasattr(cursor, "copy") or hasattr(cursor, "copy_expert") else None


def copy_valid(
    conn: Connection,
    cursor: Any,
    source: str,
    schema: FeatureSchema,
    checked: CheckedRows,
    good: list[int],
    keys: list[str],
    data_date: dt.date,
) -> tuple[int, int]:
    """Rows ``good`` of a checked block -> raw_data and processed_data; returns both counts.

    Keys a concurrent collect stored first are skipped (by restaging the rows and
    merging them with ON CONFLICT), so the race costs time, never a duplicate.
    """
    features = list(schema.features)
    # COPY text format: JSON only needs its backslashes doubled (it has no raw tabs/newlines).
    template = (
        "{"
        + ",".join(dumps(c).replace("\\", "\\\\").replace("%", "%%") + ":%s" for c in features)
        + "}"
    )
    fragments = [_json_texts(checked.values[c][good], c in checked.pure) for c in features]
    records = [template % row for row in zip(*fragments, strict=True)]
    ids = sorted(conn.execute(text(_NEXT_IDS), {"n": len(good)}).scalar_one())
    label_text = {lbl: copy_escape(lbl) for lbl in set(checked.labels) if lbl is not None}
    lines = "".join(
        map(
            "{}\t{}\t{}\t{}\t{}\t{}\n".format,
            ids,
            [copy_escape(source)] * len(good),
            _esc_all([keys[i] for i in good]),
            [data_date.isoformat()] * len(good),
            records,
            [label_text[checked.labels[i] or ""] for i in good],  # good rows have a label
        )
    )
    try:
        with conn.begin_nested():  # the fast path: straight into raw_data
            copy_lines(cursor, "loan_data.raw_data " + _RAW_COLUMNS, lines)
        stored = set(ids)
    except Exception as exc:  # a concurrent collect stored some keys first
        if getattr(exc, "sqlstate", None) != "23505" and getattr(exc, "pgcode", None) != "23505":
            raise
        logger.info("row keys of %s stored concurrently; merging with ON CONFLICT", source)
        conn.exec_driver_sql(_STAGE)
        copy_lines(cursor, "ingest_stage " + _RAW_COLUMNS, lines)
        stored = set(conn.execute(text(_FROM_STAGE)).scalars())
    typed = [i for i, g in zip(ids, good, strict=True) if checked.typed[g] and i in stored]
    params = {
        "positive": schema.positive_label,
        "source": source,
        "ids": "{" + ",".join(map(str, typed)) + "}",  # one text value: cheaper than a list
        "low": min(typed, default=0),
        "high": max(typed, default=0),
    }
    processed = conn.execute(text(_PROCESS_TYPED), params).rowcount if typed else 0
    return len(stored), processed


def copy_lines(cursor: Any, target: str, lines: str) -> None:
    statement = f"COPY {target} FROM STDIN"
    if hasattr(cursor, "copy"):  # psycopg 3
        with cursor.copy(statement) as copy:
            copy.write(lines)
    else:  # psycopg2
        cursor.copy_expert(statement, io.StringIO(lines))


def _json_texts(values: np.ndarray, pure: bool) -> np.ndarray | list[str]:
    """JSON text of each value, COPY-escaped; encodes each distinct value once when safe."""
    if pure:  # no bools mixed with numbers, so equal-hashing values encode alike
        codes, uniques = pd.factorize(values, use_na_sentinel=True)
        encoded = [dumps(u).replace("\\", "\\\\") for u in uniques]
        return np.array([*encoded, "null"], dtype=object)[codes]
    return [dumps(v).replace("\\", "\\\\") for v in values]


def copy_escape(value: str) -> str:
    """Escape a value for COPY's text format."""
    return (
        value.replace("\\", "\\\\").replace("\t", "\\t").replace("\n", "\\n").replace("\r", "\\r")
    )


def _esc_all(values: list[str]) -> list[str]:
    joined = "".join(values)
    return [copy_escape(v) for v in values] if any(c in joined for c in "\\\t\n\r") else values
