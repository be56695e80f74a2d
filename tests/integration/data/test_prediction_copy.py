"""The prediction log's COPY path stores every value exactly, in order, once.

Rows carry what a client can put in them (tabs, newlines, backslashes, quotes, non-ASCII in
categories and ids) and what the server adds (shadow rows naming their champion answer, a
missing application id); both drivers (psycopg 3 and psycopg2) are exercised.
"""

from __future__ import annotations

import datetime as dt

import pytest
from sqlalchemy import select

from src.api.prediction_log import insert_ignoring_duplicates
from src.data.database import get_engine
from src.data.tables import Prediction

AWKWARD = ["tab\there", "line\nbreak", "back\\slash", 'quote"d', "ünïcödé €", "\\N", "a\rb"]
START = dt.datetime(2026, 5, 1, 12, 0, tzinfo=dt.UTC)


def _rows(n: int, first: int = 0) -> list[dict]:
    rows = []
    for i in range(first, first + n):
        awkward = AWKWARD[i % len(AWKWARD)]
        rows.append(
            {
                "prediction_id": f"p{i:05d}",
                "request_id": f"req-{i}",
                "application_id": None if i % 3 == 0 else f"app {awkward}",
                "model_version": "v0001",
                "features": {"grade": awkward, "int_rate": 0.1 + i / 7, "term": None},
                "probability": 1 / (i + 3),
                "prediction": i % 2,
                "latency_ms": 0.25 + i,
                "created_at": START + dt.timedelta(microseconds=i * 1001),
                "role": "shadow" if i % 5 == 0 else "champion",
                "champion_prediction_id": f"c{i}" if i % 5 == 0 else None,
            }
        )
    return rows


def _stored(url: str) -> list[dict]:
    columns = Prediction.__table__.columns
    with get_engine(url).connect() as conn:
        found = conn.execute(select(Prediction.__table__).order_by(Prediction.id)).mappings()
        return [{c.name: row[c.name] for c in columns} for row in found]


@pytest.mark.parametrize("driver", ["psycopg", "psycopg2"])
def test_rows_read_back_exactly_in_order_and_a_retry_adds_nothing(db_url, driver):
    url = db_url.replace("postgresql://", f"postgresql+{driver}://", 1)
    engine = get_engine(url)
    assert engine.dialect.driver == driver
    rows = _rows(40)
    assert insert_ignoring_duplicates(engine, rows) == 40
    # A flush retried after its commit landed, plus new rows: only the new ones are stored.
    assert insert_ignoring_duplicates(engine, rows[30:] + _rows(5, first=40)) == 5
    stored = _stored(url)
    assert [s["prediction_id"] for s in stored] == [r["prediction_id"] for r in _rows(45)]
    ids = [s["id"] for s in stored]
    assert ids == sorted(ids), "ids follow the buffer's order"
    for want, got in zip(_rows(45), stored, strict=True):
        assert {k: got[k] for k in want} == want


def test_a_row_the_database_refuses_is_dropped_alone(db_url):
    """The batch fails as a whole (a NUL in JSON text); the writer's row-by-row retry keeps
    the others (``PredictionLogWriter._write_one_by_one``) and rejects only that row."""
    from src.api.prediction_log import PredictionLogWriter

    writer = PredictionLogWriter(engine=lambda: get_engine(db_url), capacity=100, flush_seconds=1)
    rows = _rows(6)
    rows[2]["features"] = {"grade": "nul\x00byte"}
    writer.submit(rows)
    assert writer.flush_once()
    assert (writer.written, writer.rejected) == (5, 1)
    assert [s["prediction_id"] for s in _stored(db_url)] == [
        r["prediction_id"] for i, r in enumerate(_rows(6)) if i != 2
    ]
