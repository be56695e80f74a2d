"""The write-time drift rollup never changes what drift finds, only how fast.

Answers are logged through the prediction logger's own writer (``insert_ignoring_duplicates``,
which rolls them up) on the real PostgreSQL; the counts of a window (with partial first and
last hours) must equal those of the Python path over the same rows, which the SQL path is
already held to bin for bin (``test_drift_queries``), and must keep equalling them when rows
arrive without the rollup, rows are deleted, or the profile's bins differ.
"""

from __future__ import annotations

import datetime as dt

import numpy as np
from sqlalchemy import delete, func, select

from src.api.prediction_log import insert_ignoring_duplicates
from src.data import repository as repo
from src.data.database import get_engine, session_scope
from src.data.drift_queries import live_counts
from src.data.drift_rollup import profile_entries, rolled_up_counts
from src.data.tables import DataSource, DriftRollupBucket, ModelMetadata, Prediction
from tests.integration.data.test_drift_queries import SCHEMA, _profile, _records

START = dt.datetime(2026, 3, 1, tzinfo=dt.UTC)
HOURS = 12


def _register(url: str, profile: dict) -> None:
    with session_scope(get_engine(url)) as session:
        session.add(DataSource(name="s", kind="file", location="x", feature_schema={}))
        session.flush()
        session.add(
            ModelMetadata(
                model_version="v0001",
                source="s",
                training_config={},
                feature_schema=SCHEMA.to_dict(),
                data_snapshot={"max_raw_id": 0},
                **dict.fromkeys(("f1_score", "accuracy", "precision", "recall"), 0.5),
                **dict.fromkeys(("roc_auc", "pr_auc", "threshold"), 0.5),
                artifact_sha256="0" * 64,
                artifact_size=0,
            )
        )
        session.flush()
        repo.add_profile(session, model_version="v0001", profile=profile)


def _rows(records: list[dict], *, first: int = 0, role: str = "champion") -> list[dict]:
    rng = np.random.default_rng(first)
    return [
        {
            "prediction_id": f"p{first + i}",
            "request_id": "r",
            "model_version": "v0001",
            "features": record,
            "probability": float(rng.beta(2, 10)) if i % 50 else float("nan"),
            "prediction": 0,
            "latency_ms": 1.0,
            "created_at": START + dt.timedelta(minutes=(first + i) * 7 % (HOURS * 60)),
            "role": role,
        }
        for i, record in enumerate(records)
    ]


def _counts(
    profile: dict,
    *,
    in_database: bool | None,
    start: dt.datetime,
    end: dt.datetime,
    use_rollup: bool = True,
):
    with session_scope() as session:
        counts = live_counts(
            session,
            profile=profile,
            model_version="v0001",
            window_start=start,
            window_end=end,
            in_database=in_database,
            use_rollup=use_rollup,
        )
    return counts.n, {name: c.tolist() for name, c in counts.counts.items()}


def _rolled_n(profile: dict, start: dt.datetime, end: dt.datetime) -> int:
    with session_scope() as session:
        return rolled_up_counts(
            session,
            entries=profile_entries(profile),
            model_version="v0001",
            window_start=start,
            window_end=end,
        ).n


def test_rollup_counts_equal_counting_every_row(db_url):
    profile = _profile()
    _register(db_url, profile)
    engine = get_engine(db_url)
    records = _records(np.random.default_rng(3), 900)
    # Two flushes into the same hours (the upsert adds), shadow rows that must not count.
    assert insert_ignoring_duplicates(engine, _rows(records[:500])) == 500
    assert insert_ignoring_duplicates(engine, _rows(records[500:], first=500)) == len(records) - 500
    assert insert_ignoring_duplicates(engine, _rows(records[:40], first=5000, role="shadow")) == 40
    assert insert_ignoring_duplicates(engine, _rows(records[:10])) == 0  # retried flush: no-op
    start, end = START + dt.timedelta(minutes=30), START + dt.timedelta(hours=HOURS - 1, minutes=5)

    def same_as_every_row() -> int:
        """The rollup's counts equal SQL over every row (the definition) and Python's."""
        rolled = _counts(profile, in_database=None, start=start, end=end)
        sql = _counts(profile, in_database=None, start=start, end=end, use_rollup=False)
        assert rolled == sql == _counts(profile, in_database=False, start=start, end=end)
        return rolled[0]

    n = same_as_every_row()
    with session_scope() as session:
        in_window = session.scalar(
            select(func.count()).where(
                Prediction.role == "champion",
                Prediction.created_at >= start,
                Prediction.created_at < end,
            )
        )
    assert n == in_window > 700
    whole_hours = _rolled_n(profile, start, end)
    assert 0.7 * n < whole_hours < n  # the rollup did the work; the partial hours did not
    # DRIFT_SAMPLE_ROWS: exact while the rows left outside the rollup fit in it, else sampled.
    with session_scope() as session:

        def shipped(sample_rows: int):
            return live_counts(
                session,
                profile=profile,
                model_version="v0001",
                window_start=start,
                window_end=end,
                sample_rows=sample_rows,
            )

        exact, sampled = shipped(n - whole_hours), shipped(n - whole_hours - 1)
    assert exact.sampled_from is None and exact.n == n
    assert sampled.sampled_from == n  # the whole window, sampled as without the rollup

    # An answer logged by a writer that does not roll up (an ORM insert, COPY, an old replica)
    # takes its hour off the rollup; so does a deleted answer.
    with session_scope() as session:
        session.add(Prediction(**_rows(records[:1], first=9000)[0] | {"prediction_id": "x"}))
    assert same_as_every_row() == n + 1
    assert _rolled_n(profile, start, end) < whole_hours
    with session_scope() as session:
        session.execute(delete(Prediction).where(Prediction.prediction_id == "p10"))
    assert same_as_every_row() == n
    # Counts binned with other bins (another profile) are never used.
    other = _profile()
    other["features"]["int_rate"]["edges"] = [
        e + 0.5 for e in other["features"]["int_rate"]["edges"]
    ]
    assert _rolled_n(other, start, end) == 0
    assert _counts(other, in_database=None, start=start, end=end) == _counts(
        other, in_database=False, start=start, end=end
    )


def test_no_profile_no_rollup_and_nothing_lost(db_url):
    """A version without a profile logs as before; drift then counts every row."""
    engine = get_engine(db_url)
    rows = _rows(_records(np.random.default_rng(4), 50))
    assert insert_ignoring_duplicates(engine, rows) == len(rows)
    with session_scope() as session:
        assert session.scalar(select(func.count()).select_from(DriftRollupBucket)) == 0
        assert session.scalar(select(func.count()).select_from(Prediction)) == len(rows)


def test_rollup_bins_like_sql_where_python_would_not(db_url):
    """SQL compares a JSON number with edges cast to numeric (15 significant digits); the
    rollup must too: a value equal to a long edge's 15-digit form goes in the bin above."""
    profile = _profile()
    edges = profile["features"]["int_rate"]["edges"]
    short = float(f"{edges[4]:.2f}")
    edges[4] = float(np.nextafter(short, np.inf))  # 15 digits: ``short``; 17: just above it
    assert f"{edges[4]:.15g}" == repr(short) and edges[3] < short < edges[5]
    _register(db_url, profile)
    records = [{"term": "36", "int_rate": short} for _ in range(30)]
    assert insert_ignoring_duplicates(get_engine(db_url), _rows(records)) == 30
    start, end = START, START + dt.timedelta(hours=HOURS)
    assert _rolled_n(profile, start, end) == 30
    with session_scope() as session:
        sql = live_counts(
            session,
            profile=profile,
            model_version="v0001",
            window_start=start,
            window_end=end,
            use_rollup=False,
        )
    rolled = _counts(profile, in_database=None, start=start, end=end)
    assert sql.counts["int_rate"][5] == 30  # width_bucket: the bin above edges[4]
    assert rolled == (sql.n, {name: c.tolist() for name, c in sql.counts.items()})
