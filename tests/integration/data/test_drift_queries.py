"""Bin counts in SQL (PostgreSQL) equal the Python counts (SQLite, and PostgreSQL forced).

The rows include what a JSON column can hold but a number cannot: strings, booleans, objects,
a JSON null, an absent key, and a number beyond float8 (``10**400``), which must not crash the
statement.  (JSON cannot hold NaN, so a "NaN" string stands for it.)
"""

from __future__ import annotations

import datetime as dt

import numpy as np
import pandas as pd
from sqlalchemy import text

from src.data.database import get_engine, init_db, session_scope
from src.data.drift_queries import collected_counts, live_counts
from src.data.feature_schema import FeatureSchema
from src.data.monitoring_tables import SCORE
from src.data.tables import DataSource, Prediction, ProcessedData, RawData
from src.models.drift import build_profile

SCHEMA = FeatureSchema(
    categorical=("term", "sub_grade"),
    numerical=("int_rate", "annual_inc", "delinq_2yrs"),
    target="Class",
    positive_label="bad",
)
START = dt.datetime(2026, 3, 1, tzinfo=dt.UTC)
END = START + dt.timedelta(days=7)
HOSTILE: list[dict] = [
    {"term": "36", "sub_grade": "A1", "int_rate": "12.5", "annual_inc": None, "delinq_2yrs": True},
    {"term": 60, "sub_grade": ["x"], "int_rate": {"a": 1}, "annual_inc": 10**400},
    {"term": None, "int_rate": -(10**400), "annual_inc": 10**30, "delinq_2yrs": "NaN"},
    {"term": "120", "sub_grade": "Z9", "int_rate": 0, "annual_inc": -5, "delinq_2yrs": 0.5},
]


def _profile() -> dict:
    rng = np.random.default_rng(0)
    n = 2000
    frame = pd.DataFrame(
        {
            "term": rng.choice(["36", "60", None], n, p=[0.7, 0.29, 0.01]),
            "sub_grade": rng.choice(["A1", "B2", "C3"], n),
            "int_rate": rng.uniform(5, 29, n),
            "annual_inc": np.where(rng.random(n) < 0.05, np.nan, rng.lognormal(11, 0.5, n)),
            "delinq_2yrs": rng.choice([0.0, 0.0, 0.0, 1.0, 2.0], n),
        }
    )
    return build_profile(frame, SCHEMA, rng.beta(2, 12, 500))


def _records(rng: np.random.Generator, n: int) -> list[dict]:
    records = [
        {
            "term": str(rng.choice(["36", "60"])),
            "sub_grade": str(rng.choice(["A1", "B2", "C3", "D4"])),
            "int_rate": float(rng.uniform(4, 30)),
            "annual_inc": float(rng.lognormal(11, 0.6)),
            "delinq_2yrs": float(rng.choice([0, 0, 1, 3])),
        }
        for _ in range(n)
    ]
    return records + HOSTILE


def _insert(url: str, records: list[dict]) -> None:
    """The same rows as logged predictions (3 in the window, 1 outside) and collected rows."""
    with session_scope(get_engine(url)) as session:
        session.add(DataSource(name="s", kind="file", location="x", feature_schema={}))
        for i, record in enumerate(records):
            session.add(
                Prediction(
                    prediction_id=f"p{i}",
                    request_id="r",
                    model_version="v0001" if i % 4 else "v0002",
                    features=record,
                    probability=float(np.random.default_rng(i).beta(2, 10)) if i else 0.9999,
                    prediction=0,
                    latency_ms=1.0,
                    created_at=START + dt.timedelta(hours=i % 200),
                )
            )
            session.add(
                RawData(
                    id=i + 1,
                    source="s",
                    row_key=str(i),
                    data_date=START.date(),
                    record={},
                    label="good",
                )
            )
            session.flush()
            session.add(
                ProcessedData(
                    raw_id=i + 1, source="s", data_date=START.date(), features=record, label=0
                )
            )


def _both_ways(url: str, profile: dict) -> list[tuple]:
    results = []
    with session_scope(get_engine(url)) as session:
        for in_database in (None, False):
            live = live_counts(
                session,
                profile=profile,
                model_version="v0001",
                window_start=START,
                window_end=END,
                in_database=in_database,
            )
            collected = collected_counts(
                session, profile=profile, source="s", after_raw_id=10, in_database=in_database
            )
            results.append((live, collected))
    return results


def _as_lists(counts) -> dict:
    return {name: c.tolist() for name, c in counts.counts.items()}


def test_sql_counts_equal_python_counts_on_postgres_and_sqlite(db_url, tmp_path):
    """On PostgreSQL (SQL, then Python forced) and SQLite (Python): identical counts."""
    profile = _profile()
    records = _records(np.random.default_rng(1), 600)
    sqlite_url = f"sqlite:///{tmp_path / 'drift.db'}"
    init_db(get_engine(sqlite_url))
    for url in (db_url, sqlite_url):
        _insert(url, records)
    (pg_sql, pg_python), (lite, _) = _both_ways(db_url, profile), _both_ways(sqlite_url, profile)
    in_window = sum(1 for i in range(len(records)) if i % 4 and i % 200 < 168)
    assert pg_sql[0].n == in_window and pg_sql[1].n == len(records) - 10
    for sql, other in ((pg_sql, pg_python), (pg_sql, lite)):
        for population in (0, 1):
            assert sql[population].n == other[population].n
            assert _as_lists(sql[population]) == _as_lists(other[population])
    live = pg_sql[0]
    assert set(live.counts) == {*SCHEMA.features, SCORE}
    assert SCORE not in pg_sql[1].counts  # collected rows carry no score
    for name, counts in live.counts.items():
        assert counts.sum() == live.n, name
    # The hostile rows land in the missing / unseen / outer bins rather than failing.
    collected = pg_sql[1].counts
    assert collected["int_rate"][-1] == 2  # "12.5" and {"a": 1}
    assert collected["int_rate"][0] >= 1  # -10**400: the lowest bin
    assert collected["delinq_2yrs"][-1] == 3  # true, an absent key, "NaN"
    assert collected["annual_inc"][-1] == 1  # a JSON null
    assert collected["term"][-1] == 1  # a JSON null (60, a number, is the category "60")


def test_sql_handles_a_population_with_no_rows_and_restores_work_mem(db_url):
    with session_scope() as session:
        session.execute(text("SET LOCAL work_mem = '3MB'"))
        counts = live_counts(
            session, profile=_profile(), model_version="none", window_start=START, window_end=END
        )
        assert session.execute(text("SHOW work_mem")).scalar_one() == "3MB"
    assert counts.n == 0 and all(c.sum() == 0 for c in counts.counts.values())


def test_a_large_window_is_counted_on_a_repeatable_sample(db_url):
    """Above ``sample_rows`` the SQL path counts a page sample: about that many rows, the same
    rows on every run, with shares close to the full count's; at or below it, every row."""
    profile = _profile()
    records = _records(np.random.default_rng(2), 4000)
    _insert(db_url, records)
    with session_scope(get_engine(db_url)) as session:

        def live(sample_rows: int):
            return live_counts(
                session,
                profile=profile,
                model_version="v0001",
                window_start=START,
                window_end=END,
                sample_rows=sample_rows,
            )

        exact, first, again = live(0), live(1000), live(1000)
        everything = live(exact.n)
    assert exact.sampled_from is None and everything.sampled_from is None
    assert _as_lists(everything) == _as_lists(exact)
    assert first.sampled_from == exact.n > 2000
    assert 300 < first.n < 0.75 * exact.n, (first.n, exact.n)  # pages sampled: near 1,000
    assert _as_lists(first) == _as_lists(again)  # REPEATABLE
    for name, counts in first.counts.items():
        assert counts.sum() == first.n, name
        gap = np.abs(counts / first.n - exact.counts[name] / exact.n).max()
        assert gap < 0.1, (name, gap)  # a sample of the same rows, not other rows
