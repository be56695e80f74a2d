"""A large portfolio from the bundled one: lending_club replicated in SQL up to N rows.

Scale tests and benches need hundreds of thousands of stored loans; the bundled dataset has
9,857.  Each copy gets a new row key (``<key>~<copy>``) and the same record, label and
processed features, so it is scored exactly like its original.  Used by
``bench/batch_scoring.py`` and ``scripts/airflow_celery_smoke.py``; never by the product.
"""

from __future__ import annotations

import time

from sqlalchemy import create_engine, text

BASE_ROWS = 9857  # lending_club as collected
REPLICATE = """
INSERT INTO loan_data.raw_data (source, row_key, data_date, record, label)
SELECT r.source, r.row_key || '~' || g, r.data_date, r.record, r.label
FROM loan_data.raw_data r
CROSS JOIN generate_series(CAST(:first AS integer), CAST(:last AS integer)) AS g
WHERE r.source = 'lending_club' AND strpos(r.row_key, '~') = 0
ORDER BY g, r.id
LIMIT :rows
"""
COPIES = """
SELECT max(split_part(row_key, '~', 2)::int) FROM loan_data.raw_data
WHERE source = 'lending_club' AND strpos(row_key, '~') > 0
"""
PROCESS = """
INSERT INTO loan_data.processed_data (raw_id, source, data_date, features, label)
SELECT n.id, n.source, n.data_date, p.features, p.label
FROM loan_data.raw_data n
JOIN loan_data.raw_data o ON o.source = n.source AND o.row_key = split_part(n.row_key, '~', 1)
JOIN loan_data.processed_data p ON p.raw_id = o.id
WHERE n.source = 'lending_club' AND n.id > :after
"""
EXTENT = "SELECT count(*), coalesce(max(raw_id), 0) FROM loan_data.processed_data"


def grow(url: str, rows: int) -> float:
    """Replicate stored lending_club rows until the database holds ``rows``; returns seconds."""
    started = time.perf_counter()
    engine = create_engine(url)
    try:
        with engine.begin() as conn:
            stored, after = conn.execute(text(EXTENT)).one()
            missing = rows - int(stored)
            if missing > 0:
                copies = conn.scalar(text(COPIES)) or 0  # suffixes used by earlier growth
                first = int(copies) + 1
                last = first + missing // BASE_ROWS + 1
                conn.execute(text(REPLICATE), {"first": first, "last": last, "rows": missing})
                conn.execute(text(PROCESS), {"after": int(after)})
        with engine.connect() as conn:
            conn.execution_options(isolation_level="AUTOCOMMIT").execute(
                text("VACUUM ANALYZE loan_data.raw_data, loan_data.processed_data")
            )
    finally:
        engine.dispose()
    return time.perf_counter() - started
