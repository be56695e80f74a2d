"""The PostgreSQL fast path of the prediction log: COPY into a stage, one INSERT ... SELECT.

Why: a busy API logs a thousand or more answers a second from the same process that serves
them, and SQLAlchemy's multi-row ``INSERT ... VALUES`` renders (and psycopg re-parses) a new
statement text for every flush, all while holding the GIL the request path needs.  A COPY
text stream is built with a few string joins per row, and the server does the rest:
``ON CONFLICT (prediction_id) DO NOTHING`` keeps a retried flush idempotent, and
``RETURNING`` gives the new rows' ids for the drift rollup, as the plain insert did.
Works with psycopg 3 and psycopg2 cursors (``pg_copy.copy_lines``).
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence
from typing import Any

from sqlalchemy import Connection

from src.data.pg_copy import copy_escape, copy_lines
from src.data.tables import CHAMPION
from src.data.values import dumps

# Column order of the stage, of every COPY line and of the INSERT.
COLUMNS = (
    "prediction_id",
    "request_id",
    "application_id",
    "model_version",
    "features",
    "probability",
    "prediction",
    "latency_ms",
    "created_at",
    "role",
    "champion_prediction_id",
)
_LIST = ", ".join(COLUMNS)
# seq keeps the buffer's order: ids are assigned in the order the SELECT yields the rows.
_STAGE = (
    f"CREATE TEMP TABLE prediction_stage ON COMMIT DROP AS SELECT 0 AS seq, {_LIST} "  # noqa: S608
    "FROM loan_data.predictions WITH NO DATA"
)
_FROM_STAGE = (
    f"INSERT INTO loan_data.predictions ({_LIST}) SELECT {_LIST} FROM prediction_stage "  # noqa: S608
    "ORDER BY seq ON CONFLICT (prediction_id) DO NOTHING RETURNING id, prediction_id"
)
_NULL = "\\N"


def copy_predictions(conn: Connection, rows: Sequence[dict[str, Any]]) -> list[tuple[int, str]]:
    """Insert ``rows`` (log rows, as ``score_records`` builds them) in the connection's
    transaction; returns ``(id, prediction_id)`` of each row that was new."""
    cursor = conn.connection.cursor()
    conn.exec_driver_sql(_STAGE)
    copy_lines(cursor, f"prediction_stage (seq, {_LIST})", copy_text(rows))
    return [(int(i), str(p)) for i, p in conn.exec_driver_sql(_FROM_STAGE)]


def copy_text(rows: Sequence[dict[str, Any]]) -> str:
    """COPY text format, one line per row: ``seq``, then :data:`COLUMNS`."""
    return "".join(f"{seq}\t{_line(row)}\n" for seq, row in enumerate(rows))


def _line(row: dict[str, Any]) -> str:
    created: dt.datetime = row["created_at"]
    return "\t".join(
        (
            _text(row["prediction_id"]),
            _text(row["request_id"]),
            _text(row.get("application_id")),
            _text(row["model_version"]),
            # JSON escapes control characters itself: only its backslashes need doubling.
            dumps(row["features"]).replace("\\", "\\\\"),
            repr(float(row["probability"])),  # shortest repr: float8 reads it back exactly
            str(int(row["prediction"])),
            repr(float(row["latency_ms"])),
            created.isoformat(),
            _text(row.get("role", CHAMPION)),
            _text(row.get("champion_prediction_id")),
        )
    )


def _text(value: str | None) -> str:
    return _NULL if value is None else copy_escape(str(value))
